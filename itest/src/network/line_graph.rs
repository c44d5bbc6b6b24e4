//! Nodes joined in a line by announced channels, pyln-testing's
//! `line_graph`: `l1 -> l2 -> ... -> ln`, each channel opened by the node on
//! its left, and every node's gossip showing every channel, so a payment
//! from one end to the other finds its route.

use std::time::Duration;

use crate::error::{ensure, Result};
use serde_json::{json, Value};

use crate::conf::Conf;
use crate::network::Network;
use crate::node::Node;
use crate::version::Version;
use crate::wait::wait_until;

/// Extra time gossip may take without `--dev-fast-gossip`: CLN's
/// `GOSSIP_ANNOUNCE_DELAY` plus `GOSSIP_FLUSH_INTERVAL`, 60 s each.
pub const SLOW_GOSSIP: Duration = Duration::from_secs(120);

impl Network {
    /// `n` default nodes in a line; see [`Network::line_graph_with_conf`].
    pub fn line_graph(n: usize) -> Result<Network> {
        Self::line_graph_with_conf(&Conf::with_nodes(n))
    }

    /// Builds the network of `conf` (at least two nodes, all started) and
    /// joins its nodes in a line with [`Network::link_line`].
    pub fn line_graph_with_conf(conf: &Conf) -> Result<Network> {
        let net = Network::with_conf(conf)?;
        net.link_line()?;
        Ok(net)
    }

    /// Opens a [`Conf::channel_sat`] channel from each node to the next and
    /// returns once every channel is `CHANNELD_NORMAL` on both sides,
    /// announced, and listed in both directions by every node's
    /// `listchannels`. Wallets are funded in one block and the channels
    /// confirmed together, so the cost hardly grows with the length.
    pub fn link_line(&self) -> Result<()> {
        let nodes = self.nodes();
        ensure!(
            nodes.len() >= 2,
            "a line needs at least 2 nodes, this network has {}",
            nodes.len()
        );
        let pairs: Vec<(&Node, &Node)> = nodes.windows(2).map(|w| (w[0], w[1])).collect();
        let sats = self.conf().channel_sat;
        let openers: Vec<&Node> = pairs.iter().map(|(a, _)| *a).collect();
        self.fund_wallets(&openers, sats + self.conf().funding_margin_sat)?;
        for (a, b) in &pairs {
            self.connect(a, b)?;
            a.call("fundchannel", json!({"id": b.id()?, "amount": sats}))?;
        }
        // Six confirmations make a channel announceable (BOLT 7).
        self.mine(self.conf().channel_confirmations.max(6))?;
        for (a, b) in &pairs {
            self.wait_channel_state(a, &b.id()?, "CHANNELD_NORMAL")?;
            self.wait_channel_state(b, &a.id()?, "CHANNELD_NORMAL")?;
        }
        self.wait_for_gossip(2 * pairs.len())
    }

    /// Waits until every running node's `listchannels` shows `directions`
    /// active channel directions (two per announced channel).
    ///
    /// Releases before v23.11 have no `--dev-fast-gossip`: lightningd
    /// announces a channel 60 s after lock-in and flushes gossip to each
    /// peer every 60 s, so there the wait allows [`SLOW_GOSSIP`] on top of
    /// [`Conf::timeout`].
    pub fn wait_for_gossip(&self, directions: usize) -> Result<()> {
        for node in self.nodes().iter().filter(|n| n.is_running()) {
            let what = format!("{} to see {directions} channel directions", node.name());
            let limit = if node.version() < Version::new(23, 11, 0) {
                self.conf().timeout + SLOW_GOSSIP
            } else {
                self.conf().timeout
            };
            wait_until(&what, limit, |last| {
                let reply = node.call("listchannels", json!({}))?;
                let active = active_directions(&reply);
                *last = format!("listchannels shows {active} active");
                Ok((active >= directions).then_some(()))
            })
            .map_err(|e| node.explain(e))?;
        }
        Ok(())
    }
}

/// Active channel directions in a `listchannels` reply.
fn active_directions(reply: &Value) -> usize {
    reply["channels"]
        .as_array()
        .map(|cs| cs.iter().filter(|c| c["active"] == json!(true)).count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_active_directions() {
        let reply = json!({"channels": [
            {"short_channel_id": "103x1x0", "direction": 0, "active": true},
            {"short_channel_id": "103x1x0", "direction": 1, "active": true},
            {"short_channel_id": "104x1x0", "direction": 0, "active": false},
        ]});
        assert_eq!(active_directions(&reply), 2);
        assert_eq!(active_directions(&json!({})), 0);
    }
}
