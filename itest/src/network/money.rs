//! Funding wallets, invoices and payments.

use std::time::Duration;

use crate::error::{bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::network::Network;
use crate::node::Node;
use crate::version::Version;
use crate::wait::wait_until;

/// The final CLTV delta [`Node::single_route`] asks for (`getroute`'s
/// default).
const FINAL_CLTV: u32 = 9;

/// How much sooner than the RPC limit [`Node::pay`] tells `pay` to give up.
pub const PAY_REPLY_MARGIN: Duration = Duration::from_secs(10);

/// An invoice created by [`Node::invoice`] or [`Node::invoice_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invoice {
    /// The label it was created with (unique per node).
    pub label: String,
    /// The BOLT 11 string to pay.
    pub bolt11: String,
    /// Its payment hash (hex).
    pub payment_hash: String,
    /// Its payment secret (hex), which `sendpay` needs.
    pub payment_secret: String,
}

/// An invoice amount: exact, or `any` (the payer chooses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// This many millisatoshi.
    Msat(u64),
    /// `"any"`: the payer says how much (`pay_with` and `amount_msat`).
    Any,
}

impl From<u64> for Amount {
    fn from(msat: u64) -> Self {
        Amount::Msat(msat)
    }
}

impl Amount {
    fn to_json(self) -> Value {
        match self {
            Amount::Msat(msat) => json!(msat),
            Amount::Any => json!("any"),
        }
    }
}

/// `extra` as the object of further parameters it must be (`null` is
/// none).
fn extra_params(method: &str, extra: Value) -> Result<Map<String, Value>> {
    match extra {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => bail!(
            "the extra `{method}` parameters must be a JSON object like \
             {{\"description\": \"...\"}}, not {other}"
        ),
    }
}

impl Node {
    /// Creates an invoice for `amount_msat` with `label` (also its
    /// description).
    pub fn invoice(&self, amount_msat: u64, label: &str) -> Result<Invoice> {
        self.invoice_with(amount_msat, label, Value::Null)
    }

    /// `invoice` with any further parameters lightningd takes, given as a
    /// JSON object and sent as given: `description` (default: the label),
    /// `preimage`, `expiry`, `fallbacks`, `exposeprivatechannels`, `cltv`,
    /// `deschashonly`, ... The amount is msat (`u64`) or [`Amount::Any`].
    ///
    /// ```no_run
    /// # fn f(l2: &cln_itest::Node) -> cln_itest::Result<()> {
    /// use cln_itest::Amount;
    /// use serde_json::json;
    ///
    /// let preimage = "00".repeat(32);
    /// let inv = l2.invoice_with(Amount::Any, "tip", json!({"description": "a tip", "preimage": preimage}))?;
    /// # Ok(()) }
    /// ```
    pub fn invoice_with(
        &self,
        amount: impl Into<Amount>,
        label: &str,
        extra: Value,
    ) -> Result<Invoice> {
        let mut params = Map::new();
        params.insert("amount_msat".into(), amount.into().to_json());
        params.insert("label".into(), json!(label));
        params.insert("description".into(), json!(label));
        params.extend(extra_params("invoice", extra)?);
        let reply = self.call("invoice", Value::Object(params))?;
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
            payment_secret: field("payment_secret")?,
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
    /// limit instead of a transport timeout. For a lightningd whose clock
    /// runs fast under libfaketime, `retry_for` is scaled to its clock.
    pub fn pay(&self, bolt11: &str) -> Result<Value> {
        self.call(
            "pay",
            json!({"bolt11": bolt11, "retry_for": self.retry_for()}),
        )
    }

    /// [`Node::pay`] with any further `pay` parameters, as a JSON object
    /// sent as given: `amount_msat` (for an [`Amount::Any`] invoice),
    /// `label`, `maxfeepercent`, `exemptfee`, `riskfactor`, `maxdelay`,
    /// `exclude`, ... and `retry_for` (default as for `pay`). Bad `extra`
    /// (not an object) is refused before anything is sent.
    pub fn pay_with(&self, bolt11: &str, extra: Value) -> Result<Value> {
        let extra = extra_params("pay", extra)?;
        let mut params = Map::new();
        params.insert("bolt11".into(), json!(bolt11));
        params.insert("retry_for".into(), json!(self.retry_for()));
        params.extend(extra);
        self.call("pay", Value::Object(params))
    }

    /// pyln-testing's `single_route`: a route from this node to
    /// `destination` for `amount_msat` in one part, with a final CLTV
    /// delta of 9, as the array `sendpay` takes, each hop in `getroute`'s
    /// format (`id`, `channel`, `direction`, `amount_msat`, `delay`).
    /// Needs the channels in this node's gossip (or its own channel to the
    /// destination).
    ///
    /// Releases before v26.06 answer with `getroute` (`riskfactor` 1). From
    /// v26.06 `getroute` is deprecated, so the route comes from askrene's
    /// `getroutes` (with the `auto.localchans` and `auto.sourcefree`
    /// layers and one part, as pyln-testing asks for it), converted.
    pub fn single_route(&self, destination: &Node, amount_msat: u64) -> Result<Value> {
        let id = destination.id()?;
        if self.version() < Version::new(26, 6, 0) {
            let reply = self.call(
                "getroute",
                json!({"id": id, "amount_msat": amount_msat, "riskfactor": 1, "cltv": FINAL_CLTV}),
            )?;
            return match &reply["route"] {
                Value::Array(hops) if !hops.is_empty() => Ok(reply["route"].clone()),
                _ => bail!("{}: getroute gave no route: {reply}", self.name()),
            };
        }
        let reply = self.call(
            "getroutes",
            json!({
                "source": self.id()?,
                "destination": id,
                "amount_msat": amount_msat,
                "layers": ["auto.localchans", "auto.sourcefree"],
                "maxfee_msat": amount_msat.max(10_000_000),
                "final_cltv": FINAL_CLTV,
                "maxparts": 1,
            }),
        )?;
        let path = match &reply["routes"] {
            Value::Array(routes) if routes.len() == 1 => &routes[0]["path"],
            _ => bail!("{}: getroutes gave not one route: {reply}", self.name()),
        };
        let hops = path
            .as_array()
            .filter(|hops| !hops.is_empty())
            .with_context(|| format!("{}: getroutes gave an empty path: {reply}", self.name()))?;
        hops.iter()
            .map(|hop| {
                let scidd = hop["short_channel_id_dir"].as_str().unwrap_or_default();
                let (scid, direction) = scidd
                    .split_once('/')
                    .with_context(|| format!("a hop without short_channel_id_dir: {hop}"))?;
                let direction: u8 = direction
                    .parse()
                    .with_context(|| format!("a hop's direction is not 0 or 1: {hop}"))?;
                // The first names are v26.06's; the others came before.
                let field = |names: [&str; 2]| {
                    names
                        .iter()
                        .map(|n| &hop[*n])
                        .find(|v| !v.is_null())
                        .cloned()
                        .with_context(|| format!("a getroutes hop without {names:?}: {hop}"))
                };
                Ok(json!({
                    "id": field(["node_id_out", "next_node_id"])?,
                    "channel": scid,
                    "direction": direction,
                    "amount_msat": field(["amount_out_msat", "amount_msat"])?,
                    "delay": field(["cltv_out", "delay"])?,
                    "style": "tlv",
                }))
            })
            .collect::<Result<Vec<Value>>>()
            .map(Value::Array)
    }

    /// `sendpay` of `invoice` along `route`, without waiting.
    pub(crate) fn sendpay(&self, route: &Value, invoice: &Invoice) -> Result<Value> {
        self.call(
            "sendpay",
            json!({
                "route": route,
                "payment_hash": invoice.payment_hash,
                "payment_secret": invoice.payment_secret,
                "bolt11": invoice.bolt11,
            }),
        )
    }

    /// Pays `invoice` along `route` (from [`Node::single_route`], or your
    /// own) with `sendpay`, then waits with `waitsendpay`: `Ok` with
    /// `waitsendpay`'s reply (`status: "complete"`, ...), `Err` with
    /// lightningd's error exactly as sent (the failing hop's code and
    /// data), as [`Node::pay`].
    pub fn sendpay_and_wait(&self, route: &Value, invoice: &Invoice) -> Result<Value> {
        self.sendpay(route, invoice)?;
        self.call(
            "waitsendpay",
            json!({"payment_hash": invoice.payment_hash, "timeout": self.retry_for()}),
        )
    }

    /// How long, in lightningd's seconds, a paying call may take so that
    /// its own failure arrives before the RPC limit (see [`Node::pay`]):
    /// the limit less [`PAY_REPLY_MARGIN`], on lightningd's clock (which
    /// runs fast under libfaketime).
    pub(crate) fn retry_for(&self) -> u64 {
        let real = self
            .timeout()
            .saturating_sub(PAY_REPLY_MARGIN)
            .as_secs()
            .max(1);
        real * u64::from(self.clock_rate())
    }
}

impl Network {
    /// Sends `sats` to each of `nodes` from bitcoind, mines one block for
    /// all of them and waits until each node lists its output as confirmed.
    pub(crate) fn fund_wallets(&self, nodes: &[&Node], sats: u64) -> Result<()> {
        let names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
        let what = format!("{} wallet(s) funded with {sats} sat", names.join(", "));
        self.timeline
            .time(what, || self.fund_wallets_untimed(nodes, sats))
    }

    fn fund_wallets_untimed(&self, nodes: &[&Node], sats: u64) -> Result<()> {
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
