//! Nodes joined in a line, pyln-testing's `line_graph`/`join_nodes`:
//! `l1 -> l2 -> ... -> ln`, each neighbour connected and, unless only
//! connected, each channel opened by the node on its left. By default the
//! channels are announced and every node's gossip shows every channel, so
//! a payment from one end to the other finds its route; [`Links`] asks for
//! less.

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

/// How far [`Network::link_line_with`] joins neighbours (pyln-testing's
/// `fundchannel`, `announce_channels` and `wait_for_announce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Links {
    /// Connected, no channels (pyln's `fundchannel=False`): returns once
    /// both sides of each pair list the other as connected.
    Connected,
    /// Unannounced channels, confirmed and `CHANNELD_NORMAL` on both sides
    /// (pyln's `announce_channels=False`); nobody else hears of them.
    Private,
    /// Announced channels, confirmed and `CHANNELD_NORMAL`, without
    /// waiting for gossip (pyln's default, `wait_for_announce=False`).
    Funded,
    /// Announced channels that every node's gossip shows in both
    /// directions, with every node's announcement (pyln's
    /// `wait_for_announce=True`): routes across the line exist. The
    /// default, as it is what payments need.
    #[default]
    Announced,
}

impl Network {
    /// `n` default nodes in a line; see [`Network::line_graph_with_conf`].
    pub fn line_graph(n: usize) -> Result<Network> {
        Self::line_graph_with_conf(&Conf::with_nodes(n))
    }

    /// Builds the network of `conf` (at least two nodes, all started) and
    /// joins its nodes in a line with [`Network::link_line`].
    pub fn line_graph_with_conf(conf: &Conf) -> Result<Network> {
        Self::line_graph_with(conf, Links::Announced)
    }

    /// Builds the network of `conf` (at least two nodes, all started) and
    /// joins its nodes in a line as `links` says.
    pub fn line_graph_with(conf: &Conf, links: Links) -> Result<Network> {
        let net = Network::with_conf(conf)?;
        net.link_line_with(links)?;
        Ok(net)
    }

    /// [`Network::link_line_with`] with [`Links::Announced`].
    pub fn link_line(&self) -> Result<Vec<String>> {
        self.link_line_with(Links::Announced)
    }

    /// Joins the nodes in a line as `links` says: a
    /// [`Conf::channel_sat`] channel from each node to the next unless
    /// only [`Links::Connected`]. Wallets are funded in one block and the
    /// channels confirmed together, so the cost hardly grows with the
    /// length. Returns the channels' short_channel_ids in line order
    /// (none when only connected).
    pub fn link_line_with(&self, links: Links) -> Result<Vec<String>> {
        let nodes = self.nodes();
        ensure!(
            nodes.len() >= 2,
            "a line needs at least 2 nodes, this network has {}",
            nodes.len()
        );
        let pairs: Vec<(&Node, &Node)> = nodes.windows(2).map(|w| (w[0], w[1])).collect();
        if links == Links::Connected {
            for (a, b) in &pairs {
                self.connect(a, b)?;
            }
            for (a, b) in &pairs {
                self.wait_connected(a, b)?;
                self.wait_connected(b, a)?;
            }
            return Ok(Vec::new());
        }
        let sats = self.conf().channel_sat;
        let openers: Vec<&Node> = pairs.iter().map(|(a, _)| *a).collect();
        self.fund_wallets(&openers, sats + self.conf().funding_margin_sat)?;
        let mut txids = Vec::new();
        for (a, b) in &pairs {
            self.connect(a, b)?;
            let mut params = json!({"id": b.id()?, "amount": sats});
            if links == Links::Private {
                params["announce"] = json!(false);
            }
            let funded = a.call("fundchannel", params)?;
            txids.push(funded["txid"].as_str().unwrap_or_default().to_string());
        }
        // Six confirmations make a channel announceable (BOLT 7).
        self.mine_with_mempool(self.conf().channel_confirmations.max(6), txids)?;
        let mut scids = Vec::new();
        for (a, b) in &pairs {
            self.wait_channel_state(a, &b.id()?, "CHANNELD_NORMAL")?;
            self.wait_channel_state(b, &a.id()?, "CHANNELD_NORMAL")?;
            let scid = a.short_channel_id(b)?;
            scids.push(scid.unwrap_or_default());
        }
        if links == Links::Announced {
            let scids: Vec<&str> = scids.iter().map(String::as_str).collect();
            self.wait_for_announce(&scids)?;
        }
        Ok(scids)
    }

    /// Waits until `a` lists `b` as a connected peer.
    fn wait_connected(&self, a: &Node, b: &Node) -> Result<()> {
        let id = b.id()?;
        let what = format!("{} to list {} as connected", a.name(), b.name());
        wait_until(&what, self.conf().timeout, |last| {
            let peers = a.call("listpeers", json!({"id": id}))?;
            *last = peers.to_string();
            Ok((peers["peers"][0]["connected"] == json!(true)).then_some(()))
        })
        .map_err(|e| a.explain(e))
    }

    /// Waits until every running node's `listchannels` shows `directions`
    /// active channel directions (two per announced channel).
    ///
    /// Releases before v23.11 have no `--dev-fast-gossip`: lightningd
    /// announces a channel 60 s after lock-in and flushes gossip to each
    /// peer every 60 s, so there the wait allows [`SLOW_GOSSIP`] on top of
    /// [`Conf::timeout`].
    pub fn wait_for_gossip(&self, directions: usize) -> Result<()> {
        for node in self.nodes().into_iter().filter(|n| n.is_running()) {
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
