//! A channel's balance: opened with half on each side (pyln-testing's
//! `fundbalancedchannel`) and drained to the peer (`drain`).
//!
//! A balanced channel is opened one of two ways, as upstream does:
//! - both nodes offer dual-funding (`--experimental-dual-fund`): the peer
//!   funds its wallet too and is told to match the opener's amount
//!   (`funderupdate`), so each side puts in half;
//! - otherwise the opener funds it all and pushes half to the peer
//!   (`push_msat`).
//!
//! Upstream checks the peer's option only, and keeps the funder plugin's
//! default `leases_only`, under which the peer puts in nothing unless a
//! lease was asked for: the channel would come out half the size and all
//! the opener's. Here both options are checked and `leases_only` is
//! turned off, so the channel is balanced either way.

use serde_json::{json, Value};

use crate::error::{Context, Result};
use crate::node::Node;

/// The largest payment [`Node::drain`] tries first: upstream's, the
/// largest HTLC some configurations allow.
const FIRST_DRAIN_MSAT: u64 = 4_294_967_295;

/// How a balanced channel of a given size is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// What the opener puts in (`fundchannel`'s `amount`).
    pub amount: u64,
    /// What it pushes to the peer (single-funded), if anything.
    pub push_msat: Option<u64>,
    /// Whether the peer puts in the other half (dual-funded).
    pub dual: bool,
}

impl Split {
    /// How `a` opens a balanced `sats` channel with `b`.
    pub(crate) fn for_channel(a: &Node, b: &Node, sats: u64) -> Result<Self> {
        if offers_dual_funding(a)? && offers_dual_funding(b)? {
            return Ok(Split {
                amount: sats / 2,
                push_msat: None,
                dual: true,
            });
        }
        Ok(Split {
            amount: sats,
            push_msat: Some(sats * 500),
            dual: false,
        })
    }
}

/// Tells `peer`'s funder plugin to match every channel opened to it,
/// amount for amount, without a lease.
pub(crate) fn match_every_open(peer: &Node) -> Result<Value> {
    peer.call(
        "funderupdate",
        json!({"policy": "match", "policy_mod": 100, "fuzz_percent": 0, "leases_only": false}),
    )
    .with_context(|| format!("{}: matching dual-funded opens", peer.name()))
}

/// Whether `node` offers dual-funding, as `listconfigs` says in either
/// shape (`configs.<name>.set` from v23.08, `<name>: bool` before).
fn offers_dual_funding(node: &Node) -> Result<bool> {
    const NAME: &str = "experimental-dual-fund";
    let configs = node.call("listconfigs", json!({}))?;
    Ok(configs["configs"][NAME]["set"] == json!(true) || configs[NAME] == json!(true))
}

impl Node {
    /// Sends `peer` everything this node can over their channel, the way
    /// pyln-testing's `drain` does: payments with
    /// [`Node::pay_peer`], starting at 4 294 967 295 msat and halving the
    /// amount each time lightningd refuses one, until not even 1 msat gets
    /// through. Returns the msat sent. An error that is not lightningd
    /// refusing a payment (no channel, a node that died, a wait that timed
    /// out) ends the drain, saying how much had been sent.
    pub fn drain(&self, peer: &Node) -> Result<u64> {
        let mut total = 0;
        let mut msat = FIRST_DRAIN_MSAT;
        while msat != 0 {
            match self.pay_peer(peer, msat) {
                Ok(_) => total += msat,
                Err(e) if e.rpc_code().is_some() => msat /= 2,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "{} draining its channel to {}: {total} msat sent, \
                             paying {msat} msat next",
                            self.name(),
                            peer.name()
                        )
                    })
                }
            }
        }
        Ok(total)
    }
}
