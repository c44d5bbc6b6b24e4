//! Funding wallets, invoices and payments.

use std::time::Duration;

use crate::error::{Context, Result};
use serde_json::{json, Value};

use crate::network::Network;
use crate::node::Node;
use crate::wait::wait_until;

/// How much sooner than the RPC limit [`Node::pay`] tells `pay` to give up.
pub const PAY_REPLY_MARGIN: Duration = Duration::from_secs(10);

/// An invoice created by [`Node::invoice`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// The label it was created with (unique per node).
    pub label: String,
    /// The BOLT 11 string to pay.
    pub bolt11: String,
    /// Its payment hash (hex).
    pub payment_hash: String,
}

impl Node {
    /// Creates an invoice for `amount_msat` with `label` (also its
    /// description).
    pub fn invoice(&self, amount_msat: u64, label: &str) -> Result<Invoice> {
        let reply = self.call(
            "invoice",
            json!({"amount_msat": amount_msat, "label": label, "description": label}),
        )?;
        let field = |k: &str| {
            reply[k]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("{}: invoice reply has no `{k}`: {reply}", self.name()))
        };
        Ok(Invoice {
            label: label.to_string(),
            bolt11: field("bolt11")?,
            payment_hash: field("payment_hash")?,
        })
    }

    /// Pays `bolt11` with `pay`, which returns only once the payment has
    /// completed or failed: `Ok` with its reply (`status: "complete"`,
    /// `payment_preimage`, ...), or `Err` with lightningd's error exactly as
    /// sent (code, message and data such as the failing node's `failcode`),
    /// so a test can assert how it failed.
    ///
    /// `pay` keeps retrying an unpayable invoice for `retry_for` seconds
    /// (default 60), as long as the harness waits for any RPC reply
    /// ([`Conf::timeout`](crate::Conf::timeout)); it gets
    /// [`PAY_REPLY_MARGIN`] less, so its failure arrives before the RPC
    /// limit instead of a transport timeout.
    pub fn pay(&self, bolt11: &str) -> Result<Value> {
        let retry_for = self
            .timeout()
            .saturating_sub(PAY_REPLY_MARGIN)
            .as_secs()
            .max(1);
        self.call("pay", json!({"bolt11": bolt11, "retry_for": retry_for}))
    }
}

impl Network {
    /// Sends `sats` to each of `nodes` from bitcoind, mines one block for
    /// all of them and waits until each node lists its output as confirmed.
    pub(crate) fn fund_wallets(&self, nodes: &[&Node], sats: u64) -> Result<()> {
        let mut sent = Vec::new();
        for node in nodes {
            let reply = node.call("newaddr", json!({}))?;
            let address = ["bech32", "p2tr"]
                .iter()
                .find_map(|k| reply[*k].as_str())
                .with_context(|| format!("newaddr reply has no address: {reply}"))?;
            sent.push((*node, self.bitcoind().send_to(address, sats)?));
        }
        self.mine(1)?;
        for (node, txid) in sent {
            let what = format!("{} to see confirmed output of {txid}", node.name());
            wait_until(&what, self.conf().timeout, |last| {
                let funds = node.call("listfunds", json!({}))?;
                let outputs = funds["outputs"].as_array().cloned().unwrap_or_default();
                *last = format!("listfunds outputs: {}", outputs.len());
                Ok(outputs
                    .iter()
                    .any(|o| o["txid"] == json!(txid) && o["status"] == json!("confirmed"))
                    .then_some(()))
            })
            .map_err(|e| node.explain(e))?;
        }
        Ok(())
    }
}
