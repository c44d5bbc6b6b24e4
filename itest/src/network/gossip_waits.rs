//! Waiting on a node's view of the network: until it finds a route
//! (pyln-testing's `wait_for_route`) or has heard a channel_update for
//! both directions of channels (`wait_for_channel_updates`).

use serde_json::{json, Value};

use crate::error::Result;
use crate::node::Node;
use crate::wait::wait_until;

impl Node {
    /// Waits until this node finds a route to `destination` for 1 msat
    /// ([`Node::single_route`]: `getroute`, or askrene's `getroutes` from
    /// v26.06) and returns it. On timeout the error quotes the last
    /// answer, say `getroute`'s "Could not find a route".
    pub fn wait_for_route(&self, destination: &Node) -> Result<Value> {
        let what = format!("{} to find a route to {}", self.name(), destination.name());
        wait_until(&what, self.timeout(), |last| {
            match self.single_route(destination, 1) {
                Ok(route) => Ok(Some(route)),
                // A node that died ends the wait; anything else is "no
                // route yet".
                Err(e) if self.died().is_some() => Err(e),
                Err(e) => {
                    *last = format!("{e:#}");
                    Ok(None)
                }
            }
        })
        .map_err(|e| self.explain(e))
    }

    /// Waits until this node's gossip has a channel_update for both
    /// directions of each of `scids` (pyln-testing's
    /// `wait_for_channel_updates`). Upstream waits for gossipd's
    /// `Received channel_update for channel <scid>/<dir>` lines, which
    /// are debug-level in v23.02 but trace-level in v26.06 (log-level
    /// `trace`, as
    /// [`NodeConf::with_pyln_defaults`](crate::NodeConf::with_pyln_defaults)
    /// sets), and counts only updates received after the log cursor; this
    /// asks `listchannels` instead, so it works at any log level and also
    /// counts updates from before. Meant for announced channels, the ones
    /// `listchannels` is sure to list.
    pub fn wait_for_channel_updates(&self, scids: &[&str]) -> Result<()> {
        let what = format!(
            "{}'s gossip to have a channel_update for both directions of {scids:?}",
            self.name()
        );
        wait_until(&what, self.timeout(), |last| {
            for scid in scids {
                let reply = self.call("listchannels", json!({"short_channel_id": scid}))?;
                let mut directions: Vec<u64> = reply["channels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["direction"].as_u64())
                    .collect();
                directions.sort_unstable();
                directions.dedup();
                if directions != [0, 1] {
                    *last = format!("{scid}: updates for directions {directions:?}");
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
        .map_err(|e| self.explain(e))
    }
}
