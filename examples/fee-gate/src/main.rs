//! `fee-gate`: a Core Lightning plugin (written with the `cln-plugin`
//! crate) whose behaviour depends on on-chain feerates, here to show how a
//! plugin author tests that with cln-itest: fixed feerates by default, and
//! a test that changes them.
//!
//! - Option `fee-gate-max-perkw` (integer, unset by default, dynamic): the
//!   `openchannel` hook refuses channels whose opener proposes a
//!   commitment feerate above it. It can be given at startup and changed
//!   with `setconfig` (lightningd v23.08+).
//! - It subscribes to `channel_opened` and `connect`, and counts them.
//! - Method `feegate-status` answers `{"max_perkw": <n or null>,
//!   "accepted": <n>, "rejected": <n>, "last_feerate_perkw": <n or null>,
//!   "opened": <n>, "connects": <n>}`.

mod gate;

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context};
use cln_plugin::options::{self, IntegerConfigOption};
use cln_plugin::{Builder, Error, Plugin};
use serde_json::{json, Value};

use gate::{proposed_feerate, verdict, Verdict};

const MAX_PERKW: &str = "fee-gate-max-perkw";

/// What the plugin has seen since it started.
#[derive(Debug, Default)]
struct Seen {
    accepted: u64,
    rejected: u64,
    last_feerate_perkw: Option<u64>,
    opened: u64,
    connects: u64,
}

type State = Arc<Mutex<Seen>>;

fn max_option() -> IntegerConfigOption<'static> {
    IntegerConfigOption::new_i64_no_default(
        MAX_PERKW,
        "Refuse channel opens proposing a commitment feerate above this (sat per 1000 weight)",
    )
    .dynamic()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), anyhow::Error> {
    let plugin = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .option(max_option())
        .setconfig_callback(setconfig)
        .hook("openchannel", openchannel)
        .subscribe("channel_opened", channel_opened)
        .subscribe("connect", connect)
        .rpcmethod(
            "feegate-status",
            "The limit and what the gate has seen",
            status,
        )
        .dynamic()
        .start(State::default())
        .await?;
    if let Some(plugin) = plugin {
        log::info!("{MAX_PERKW} is {:?}", max_perkw(&plugin)?);
        plugin.join().await?;
    }
    // tokio's stdin reader sits in a blocking read that the runtime would
    // wait for on shutdown: exit without it.
    std::process::exit(0)
}

fn max_perkw(p: &Plugin<State>) -> Result<Option<u64>, Error> {
    let value = p.option(&max_option())?;
    value
        .map(|v| u64::try_from(v).with_context(|| format!("{MAX_PERKW} must not be negative")))
        .transpose()
}

async fn openchannel(p: Plugin<State>, payload: Value) -> Result<Value, Error> {
    let max = max_perkw(&p)?;
    let mut seen = p.state().lock().expect("state lock");
    seen.last_feerate_perkw = proposed_feerate(&payload);
    match verdict(&payload, max) {
        Verdict::Reject {
            feerate_perkw,
            reply,
        } => {
            seen.rejected += 1;
            log::info!("refused a channel at {feerate_perkw} perkw (above {max:?})");
            Ok(reply)
        }
        Verdict::Accept => {
            seen.accepted += 1;
            log::info!("accepted a channel at {:?} perkw", seen.last_feerate_perkw);
            Ok(json!({"result": "continue"}))
        }
    }
}

async fn channel_opened(p: Plugin<State>, payload: Value) -> Result<(), Error> {
    let txid = payload["channel_opened"]["funding_txid"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    p.state().lock().expect("state lock").opened += 1;
    log::info!("channel opened, funding txid {txid}");
    Ok(())
}

async fn connect(p: Plugin<State>, payload: Value) -> Result<(), Error> {
    // v23.02 sends the fields at the top level, later releases under
    // `connect`.
    let peer = payload.get("connect").unwrap_or(&payload)["id"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    p.state().lock().expect("state lock").connects += 1;
    log::info!("peer {peer} connected");
    Ok(())
}

async fn status(p: Plugin<State>, _params: Value) -> Result<Value, Error> {
    let max = max_perkw(&p)?;
    let seen = p.state().lock().expect("state lock");
    Ok(json!({
        "max_perkw": max,
        "accepted": seen.accepted,
        "rejected": seen.rejected,
        "last_feerate_perkw": seen.last_feerate_perkw,
        "opened": seen.opened,
        "connects": seen.connects,
    }))
}

/// lightningd sends `{"config": <name>, "val": <string>}` for a dynamic
/// option; a value that is not a non-negative integer is refused.
async fn setconfig(p: Plugin<State>, params: Value) -> Result<Value, Error> {
    let name = params["config"]
        .as_str()
        .context("setconfig without `config`")?;
    if name != MAX_PERKW {
        return Err(anyhow!("fee-gate has no dynamic option {name}"));
    }
    let raw = params["val"].as_str().context("setconfig without `val`")?;
    let value: u64 = raw
        .parse()
        .with_context(|| format!("{MAX_PERKW} must be a non-negative integer, not {raw:?}"))?;
    let value =
        i64::try_from(value).with_context(|| format!("{MAX_PERKW} {value} is too large"))?;
    p.set_option_str(name, options::Value::Integer(value))?;
    log::info!("{MAX_PERKW} is {:?}", Some(value));
    Ok(json!({}))
}
