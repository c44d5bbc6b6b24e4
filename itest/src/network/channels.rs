//! Connecting nodes and opening channels, and finding a node's channel
//! with a peer.

use crate::error::{bail, Context, Result};
use serde_json::{json, Map, Value};

use super::Network;
use crate::network::balance::{match_every_open, Split};
use crate::network::line_graph::SLOW_GOSSIP;
use crate::node::Node;
use crate::version::Version;
use crate::wait::wait_until;

/// How [`Network::open_channel`] opens a channel: pyln-testing's
/// `fundchannel`/`openchannel` flags (`confirm`, `announce_channel`,
/// `wait_for_announce`) and any further `fundchannel` parameters.
///
/// ```
/// use cln_itest::OpenChannel;
/// use serde_json::json;
///
/// let open = OpenChannel::new(500_000).private().param("push_msat", 10_000);
/// assert!(open.confirm && !open.announce);
/// assert_eq!(open.params["push_msat"], json!(10_000));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OpenChannel {
    /// The channel's size.
    pub sats: u64,
    /// Mine [`Conf::channel_confirmations`](crate::Conf::channel_confirmations)
    /// blocks on it and wait until both sides are `CHANNELD_NORMAL`
    /// (default). If false, return as soon as `fundchannel` has broadcast
    /// it: the channel is `CHANNELD_AWAITING_LOCKIN` and has no
    /// short_channel_id yet.
    pub confirm: bool,
    /// Announce it to the network (default); false opens a private one
    /// (`fundchannel` with `announce: false`).
    pub announce: bool,
    /// Also wait until every running node's gossip shows it in both
    /// directions, and both ends' node announcements
    /// ([`Network::wait_for_announce`]). Needs `confirm` and `announce`.
    pub wait_for_announce: bool,
    /// Half the channel on each side (pyln-testing's
    /// `fundbalancedchannel`): dual-funded when both nodes offer it,
    /// else `a` pushes half to `b`. See [`Network::fund_balanced_channel`].
    pub balanced: bool,
    /// Further `fundchannel` parameters, sent as given (`push_msat`,
    /// `feerate`, `minconf`, `close_to`, ...).
    pub params: Map<String, Value>,
}

impl OpenChannel {
    /// A `sats` channel, announced and confirmed.
    pub fn new(sats: u64) -> Self {
        Self {
            sats,
            confirm: true,
            announce: true,
            wait_for_announce: false,
            balanced: false,
            params: Map::new(),
        }
    }

    /// Returns once `fundchannel` has broadcast the funding transaction;
    /// see [`OpenChannel::confirm`].
    pub fn unconfirmed(mut self) -> Self {
        self.confirm = false;
        self
    }

    /// Opens it unannounced; see [`OpenChannel::announce`].
    pub fn private(mut self) -> Self {
        self.announce = false;
        self
    }

    /// Waits for its announcement; see [`OpenChannel::wait_for_announce`].
    pub fn wait_for_announce(mut self) -> Self {
        self.wait_for_announce = true;
        self
    }

    /// Opens it with half on each side; see [`OpenChannel::balanced`].
    pub fn balanced(mut self) -> Self {
        self.balanced = true;
        self
    }

    /// Adds a `fundchannel` parameter.
    pub fn param(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.params.insert(name.to_string(), value.into());
        self
    }
}

/// A channel [`Network::open_channel`] opened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Channel {
    /// The funding transaction.
    pub txid: String,
    /// The funding output's index in it.
    pub outnum: u64,
    /// The channel id (hex).
    pub channel_id: String,
    /// Its short channel id, once confirmed (`None` for an unconfirmed
    /// open).
    pub short_channel_id: Option<String>,
    /// `fundchannel`'s reply as lightningd sent it.
    pub reply: Value,
}

impl Network {
    /// Connects `a` to `b`, at the address `a` reaches `b` by: this
    /// machine's loopback, or `b`'s address on the network's container
    /// network.
    pub fn connect(&self, a: &Node, b: &Node) -> Result<Value> {
        let (host, port) = b.address_for(a)?;
        a.call(
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
    /// [`Conf::funding_margin_sat`](crate::Conf::funding_margin_sat)),
    /// connects, `fundchannel`, mines
    /// [`Conf::channel_confirmations`](crate::Conf::channel_confirmations)
    /// blocks and waits until both sides
    /// list the channel as `CHANNELD_NORMAL` (`listpeerchannels`, since
    /// v23.02). Returns `fundchannel`'s reply.
    ///
    /// [`Conf::funding_margin_sat`]: crate::Conf::funding_margin_sat
    /// [`Conf::channel_confirmations`]: crate::Conf::channel_confirmations
    pub fn fund_channel(&self, a: &Node, b: &Node, sats: u64) -> Result<Value> {
        Ok(self.open_channel(a, b, &OpenChannel::new(sats))?.reply)
    }

    /// pyln-testing's `fundbalancedchannel`: a `sats` channel from `a` to
    /// `b` with half of it on each side, dual-funded when both nodes
    /// offer it (`--experimental-dual-fund`; `b`'s wallet is funded too
    /// and its funder plugin told to match), else single-funded with half
    /// pushed to `b`. Unlike upstream, which mines one block and returns
    /// the short_channel_id to be, it returns once both sides are
    /// `CHANNELD_NORMAL`, as [`Network::fund_channel`] does (the
    /// short_channel_id is in the [`Channel`]); for upstream's
    /// `announce=False` or an unconfirmed channel, use
    /// [`Network::open_channel`] with [`OpenChannel::balanced`].
    pub fn fund_balanced_channel(&self, a: &Node, b: &Node, sats: u64) -> Result<Channel> {
        self.open_channel(a, b, &OpenChannel::new(sats).balanced())
    }

    /// Opens a channel from `a` to `b` as `how` says: funds `a`'s wallet
    /// (the channel plus [`Conf::funding_margin_sat`]), connects,
    /// `fundchannel`, then (unless [`OpenChannel::unconfirmed`]) mines
    /// [`Conf::channel_confirmations`] blocks once the funding transaction
    /// is in the mempool and waits until both sides are `CHANNELD_NORMAL`.
    ///
    /// [`Conf::funding_margin_sat`]: crate::Conf::funding_margin_sat
    /// [`Conf::channel_confirmations`]: crate::Conf::channel_confirmations
    pub fn open_channel(&self, a: &Node, b: &Node, how: &OpenChannel) -> Result<Channel> {
        let what = format!(
            "channel {} -> {} opened ({} sat)",
            a.name(),
            b.name(),
            how.sats
        );
        self.timeline
            .time(what, || self.open_channel_untimed(a, b, how))
    }

    fn open_channel_untimed(&self, a: &Node, b: &Node, how: &OpenChannel) -> Result<Channel> {
        if how.wait_for_announce && !(how.confirm && how.announce) {
            bail!("OpenChannel::wait_for_announce needs a confirmed, announced channel: {how:?}");
        }
        let split = if how.balanced {
            if how.params.contains_key("push_msat") {
                bail!("a balanced channel pushes half itself; leave out `push_msat`: {how:?}");
            }
            Split::for_channel(a, b, how.sats)?
        } else {
            Split {
                amount: how.sats,
                push_msat: None,
                dual: false,
            }
        };
        let funders = if split.dual { vec![a, b] } else { vec![a] };
        self.fund_wallets(&funders, how.sats + self.conf().funding_margin_sat)?;
        self.connect(a, b)?;
        if split.dual {
            match_every_open(b)?;
        }
        let (a_id, b_id) = (a.id()?, b.id()?);
        let mut params = how.params.clone();
        params.insert("id".into(), json!(b_id));
        params.insert("amount".into(), json!(split.amount));
        if let Some(push) = split.push_msat {
            params.insert("push_msat".into(), json!(push));
        }
        if !how.announce {
            params.insert("announce".into(), json!(false));
        }
        let reply = a.call("fundchannel", Value::Object(params))?;
        let field = |k: &str| {
            reply[k]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("fundchannel reply has no `{k}`: {reply}"))
        };
        let (txid, channel_id) = (field("txid")?, field("channel_id")?);
        let outnum = reply["outnum"]
            .as_u64()
            .with_context(|| format!("fundchannel reply has no `outnum`: {reply}"))?;
        let mut short_channel_id = None;
        if how.confirm {
            self.mine_with_mempool(self.conf().channel_confirmations.max(1), &txid)?;
            for (node, peer) in [(a, &b_id), (b, &a_id)] {
                self.wait_channel_state(node, peer, "CHANNELD_NORMAL")?;
            }
            short_channel_id = a.short_channel_id(b)?;
            let scid = short_channel_id
                .as_deref()
                .with_context(|| format!("{}'s confirmed channel has no scid", a.name()))?;
            if how.wait_for_announce {
                self.wait_for_announce(&[scid])?;
            }
        }
        Ok(Channel {
            txid,
            outnum,
            channel_id,
            short_channel_id,
            reply,
        })
    }

    /// Waits until `node` lists a channel with `peer` (a node id) in
    /// `state`.
    pub fn wait_channel_state(&self, node: &Node, peer: &str, state: &str) -> Result<()> {
        let what = format!("{}'s channel with {peer} to be {state}", node.name());
        wait_until(&what, self.conf().timeout, |last| {
            let reply = node.call("listpeerchannels", json!({"id": peer}))?;
            let states: Vec<Value> = reply["channels"]
                .as_array()
                .map(|cs| cs.iter().map(|c| c["state"].clone()).collect())
                .unwrap_or_default();
            *last = format!("states {states:?}");
            Ok(states.contains(&json!(state)).then_some(()))
        })
        .map_err(|e| node.explain(e))
    }

    /// pyln-testing's `wait_for_announce`: waits until every running
    /// node's gossip shows each channel in `scids` active in both
    /// directions, and knows both ends' node announcements (an alias).
    /// Without `--dev-fast-gossip` (releases before v23.11) gossip takes
    /// up to [`SLOW_GOSSIP`] longer, which the wait allows.
    pub fn wait_for_announce(&self, scids: &[&str]) -> Result<()> {
        let what = format!("gossip of {scids:?} seen by every node");
        self.timeline
            .time(what, || self.wait_for_announce_untimed(scids))
    }

    fn wait_for_announce_untimed(&self, scids: &[&str]) -> Result<()> {
        for node in self.nodes().into_iter().filter(|n| n.is_running()) {
            let limit = if node.version() < Version::new(23, 11, 0) {
                self.conf().timeout + SLOW_GOSSIP
            } else {
                self.conf().timeout
            };
            let what = format!("{} to see {scids:?} announced both ways", node.name());
            wait_until(&what, limit, |last| {
                let mut ends: Vec<String> = Vec::new();
                for scid in scids {
                    let reply = node.call("listchannels", json!({"short_channel_id": scid}))?;
                    let directions = reply["channels"].as_array().cloned().unwrap_or_default();
                    let active = directions.iter().filter(|c| c["active"] == json!(true));
                    if active.count() < 2 {
                        *last = format!("{scid} is not active both ways: {reply}");
                        return Ok(None);
                    }
                    for c in &directions {
                        let id = c["source"].as_str().unwrap_or_default().to_string();
                        if !ends.contains(&id) {
                            ends.push(id);
                        }
                    }
                }
                for id in &ends {
                    let known = node.call("listnodes", json!({"id": id}))?;
                    if known["nodes"][0].get("alias").is_none() {
                        *last = format!("no node_announcement of {id} yet");
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            })
            .map_err(|e| node.explain(e))?;
        }
        Ok(())
    }
}

impl Node {
    /// Waits until this node's channel `scid` is usable (pyln-testing's
    /// `wait_local_channel_active`): listed by `listpeerchannels` as
    /// `CHANNELD_NORMAL` (or `CHANNELD_AWAITING_SPLICE`) and, from v24.02,
    /// with the peer's channel update in (`updates.remote`), which
    /// lightningd needs before it routes over it. The error quotes the
    /// channel as last seen.
    pub fn wait_local_channel_active(&self, scid: &str) -> Result<()> {
        let what = format!("{}'s channel {scid} to be usable", self.name());
        wait_until(&what, self.timeout(), |last| {
            let reply = self.call("listpeerchannels", json!({}))?;
            let channel = reply["channels"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["short_channel_id"] == json!(scid));
            let Some(channel) = channel else {
                *last = format!("no channel {scid} listed");
                return Ok(None);
            };
            *last = channel.to_string();
            let state = channel["state"].as_str().unwrap_or_default();
            let normal = ["CHANNELD_NORMAL", "CHANNELD_AWAITING_SPLICE"].contains(&state);
            // `updates` exists from v24.02; before, a normal channel is
            // usable.
            let updated = channel
                .get("updates")
                .is_none_or(|u| u.get("remote").is_some());
            Ok((normal && updated).then_some(()))
        })
        .map_err(|e| self.explain(e))
    }

    /// This node's first channel with `peer`, as `listpeerchannels` lists
    /// it, if there is one.
    pub fn channel_with(&self, peer: &Node) -> Result<Option<Value>> {
        let reply = self.call("listpeerchannels", json!({"id": peer.id()?}))?;
        Ok(reply["channels"]
            .as_array()
            .and_then(|cs| cs.first())
            .cloned())
    }

    /// The short_channel_id of this node's first channel with `peer`
    /// (pyln-testing's `get_channel_scid`); `None` if there is no channel
    /// or it is not confirmed yet.
    pub fn short_channel_id(&self, peer: &Node) -> Result<Option<String>> {
        Ok(self
            .channel_with(peer)?
            .and_then(|c| c["short_channel_id"].as_str().map(str::to_string)))
    }

    /// The channel_id of this node's first channel with `peer`
    /// (pyln-testing's `get_channel_id`); `None` if there is none.
    pub fn channel_id(&self, peer: &Node) -> Result<Option<String>> {
        Ok(self
            .channel_with(peer)?
            .and_then(|c| c["channel_id"].as_str().map(str::to_string)))
    }
}
