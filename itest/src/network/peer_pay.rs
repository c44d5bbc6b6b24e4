//! Paying a channel peer directly, in one call (pyln-testing's
//! `l1.pay(l2, amt)`): an invoice on the peer, `sendpay` over the first
//! normal channel, `waitsendpay`, then every HTLC settled, so a test may
//! mine or close at once; and waiting for HTLCs to settle (`wait_for_htlcs`,
//! `wait_channel_quiescent`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::error::{bail, Context, Result};
use crate::network::money::Invoice;
use crate::node::Node;
use crate::wait::wait_until;

/// Makes every label this module creates unique in the process.
static LABELS: AtomicU64 = AtomicU64::new(0);

impl Node {
    /// Pays `amount_msat` to `dst`, a peer this node has a normal channel
    /// with, the way pyln-testing's `l1.pay(l2, amt)` does: an invoice on
    /// `dst`, one `sendpay` hop over the first `CHANNELD_NORMAL` channel
    /// with the final CLTV delta `dst` requires (its `cltv-final`: 5 with
    /// [`NodeConf::pyln_defaults`](crate::NodeConf::pyln_defaults), as
    /// pyln's fixed 5), then `waitsendpay`. Returns `waitsendpay`'s reply
    /// (`status: "complete"`, `payment_preimage`, `amount_sent_msat`, ...)
    /// once no channel of `dst` has an HTLC left (pyln's
    /// `dst.wait_for_htlcs()`). A failed payment is `Err` with
    /// lightningd's error as sent.
    pub fn pay_peer(&self, dst: &Node, amount_msat: u64) -> Result<Value> {
        let invoice = self.sendpay_peer(dst, amount_msat)?;
        let reply = self.call(
            "waitsendpay",
            json!({"payment_hash": invoice.payment_hash, "timeout": self.retry_for()}),
        )?;
        if reply["status"] != json!("complete") {
            bail!("{}: paying {} ended as {reply}", self.name(), dst.name());
        }
        dst.wait_for_htlcs()?;
        Ok(reply)
    }

    /// The first half of [`Node::pay_peer`]: creates the invoice on `dst`
    /// and starts the payment with `sendpay`, which returns at once;
    /// returns the invoice (`waitsendpay` with its `payment_hash` awaits
    /// the result). For tests whose payment never completes: upstream's
    /// `executor.submit(l1.pay, l2, amt)` before a `permfail`.
    pub fn sendpay_peer(&self, dst: &Node, amount_msat: u64) -> Result<Invoice> {
        let dst_id = dst.id()?;
        let channels = self.call("listpeerchannels", json!({"id": dst_id}))?;
        let scid = channels["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["state"] == json!("CHANNELD_NORMAL"))
            .and_then(|c| c["short_channel_id"].as_str())
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "{}: no CHANNELD_NORMAL channel with {} to pay over: {channels}",
                    self.name(),
                    dst.name()
                )
            })?;
        let label = format!(
            "pay_peer-{}-{}",
            self.name(),
            LABELS.fetch_add(1, Ordering::Relaxed)
        );
        let invoice = dst.invoice(amount_msat, &label)?;
        let delay = dst.cltv_final()?;
        let route =
            json!([{"amount_msat": amount_msat, "id": dst_id, "delay": delay, "channel": scid}]);
        self.sendpay(&route, &invoice)?;
        Ok(invoice)
    }

    /// Waits until none of this node's channels has an HTLC in flight
    /// (pyln-testing's `wait_for_htlcs()`).
    pub fn wait_for_htlcs(&self) -> Result<()> {
        let what = format!("{}'s channels to have no HTLCs", self.name());
        wait_until(&what, self.timeout(), |last| {
            let reply = self.call("listpeerchannels", json!({}))?;
            let busy: Vec<&Value> = reply["channels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["htlcs"].as_array().is_some_and(|h| !h.is_empty()))
                .collect();
            if busy.is_empty() {
                return Ok(Some(()));
            }
            *last = format!(
                "HTLCs in {:?}",
                busy.iter()
                    .map(|c| &c["short_channel_id"])
                    .collect::<Vec<_>>()
            );
            Ok(None)
        })
    }

    /// Waits until no channel between this node and `peer` has an HTLC
    /// in flight, as each side lists them (pyln-testing's
    /// `wait_channel_quiescent(n1, n2)`, which expects exactly one
    /// channel; here every channel between them counts). On timeout the
    /// error says which side still lists which HTLCs.
    pub fn wait_channel_quiescent(&self, peer: &Node) -> Result<()> {
        let what = format!(
            "the channels between {} and {} to have no HTLCs",
            self.name(),
            peer.name()
        );
        let sides = [(self, peer.id()?), (peer, self.id()?)];
        wait_until(&what, self.timeout(), |last| {
            for (node, other) in &sides {
                let reply = node.call("listpeerchannels", json!({"id": other}))?;
                let htlcs: Vec<&Value> = reply["channels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|c| c["htlcs"].as_array().into_iter().flatten())
                    .collect();
                if !htlcs.is_empty() {
                    *last = format!("{} lists HTLCs {htlcs:?}", node.name());
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
    }

    /// This node's `cltv-final`, as `listconfigs` gives it (its shape
    /// changed in v23.08).
    fn cltv_final(&self) -> Result<u64> {
        let reply = self.call("listconfigs", json!({"config": "cltv-final"}))?;
        reply["configs"]["cltv-final"]["value_int"]
            .as_u64()
            .or_else(|| reply["cltv-final"].as_u64())
            .with_context(|| format!("{}: no cltv-final in listconfigs: {reply}", self.name()))
    }
}
