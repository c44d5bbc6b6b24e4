//! Mining, connecting nodes and opening channels.

use anyhow::Result;
use serde_json::{json, Value};

use super::Network;
use crate::node::Node;
use crate::wait::wait_until;

impl Network {
    /// Mines `n` blocks and waits until every started node has processed
    /// them (a node that died fails this, naming it; stopped nodes are
    /// skipped).
    pub fn mine(&self, n: u64) -> Result<()> {
        self.bitcoind().mine(n)?;
        let height = self.bitcoind().height()?;
        let started = self
            .nodes
            .iter()
            .filter(|n| n.is_running() || n.exit_status().is_some());
        for node in started {
            node.wait_blockheight(height)?;
        }
        Ok(())
    }

    /// Connects `a` to `b`, at the address `a` reaches `b` by: this
    /// machine's loopback, or `b`'s address on the network's container
    /// network.
    pub fn connect(&self, a: &Node, b: &Node) -> Result<Value> {
        let (host, port) = b.address_for(a)?;
        a.rpc(
            "connect",
            json!({"id": b.id()?, "host": host, "port": port}),
        )
    }

    /// Sends `sats` from bitcoind to a fresh address of `node`, confirms it
    /// and waits until the node sees it as a confirmed output.
    pub fn fund_wallet(&self, node: &Node, sats: u64) -> Result<()> {
        self.fund_wallets(&[node], sats)
    }

    /// Opens a `sats` channel from `a` to `b`: funds `a`'s wallet (plus
    /// [`Conf::funding_margin_sat`](crate::Conf::funding_margin_sat)), connects, `fundchannel`, mines
    /// [`Conf::channel_confirmations`](crate::Conf::channel_confirmations) blocks and waits until both sides
    /// list the channel as `CHANNELD_NORMAL` (`listpeerchannels`, since
    /// v23.02). Returns `fundchannel`'s reply.
    pub fn fund_channel(&self, a: &Node, b: &Node, sats: u64) -> Result<Value> {
        self.fund_wallet(a, sats + self.conf.funding_margin_sat)?;
        self.connect(a, b)?;
        let (a_id, b_id) = (a.id()?, b.id()?);
        let funded = a.rpc("fundchannel", json!({"id": b_id, "amount": sats}))?;
        self.mine(self.conf.channel_confirmations)?;
        for (node, peer) in [(a, &b_id), (b, &a_id)] {
            self.wait_channel_state(node, peer, "CHANNELD_NORMAL")?;
        }
        Ok(funded)
    }

    /// Waits until `node` lists a channel with `peer` (a node id) in
    /// `state`.
    pub fn wait_channel_state(&self, node: &Node, peer: &str, state: &str) -> Result<()> {
        let what = format!("{}'s channel with {peer} to be {state}", node.name());
        wait_until(&what, self.conf.timeout, |last| {
            let reply = node.rpc("listpeerchannels", json!({"id": peer}))?;
            let states: Vec<Value> = reply["channels"]
                .as_array()
                .map(|cs| cs.iter().map(|c| c["state"].clone()).collect())
                .unwrap_or_default();
            *last = format!("states {states:?}");
            Ok(states.contains(&json!(state)).then_some(()))
        })
        .map_err(|e| node.explain(e))
    }
}
