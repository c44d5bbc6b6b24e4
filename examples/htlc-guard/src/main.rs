//! `htlc-guard`: a Core Lightning plugin written with the `cln-plugin`
//! crate, here to show how an outside crate tests its plugin with `itest`.
//!
//! - Option `htlc-guard-max-msat` (integer, unset by default): the
//!   `htlc_accepted` hook fails the HTLCs of payments above this amount. It
//!   can be given at startup and changed with `setconfig` (lightningd
//!   v23.08+). The plugin logs the limit it starts with and every change.
//! - It subscribes to `invoice_payment` and counts the invoices paid to
//!   this node.
//! - Method `htlcguard-status` answers
//!   `{"max_msat": <n or null>, "payments": <n>, "labels": [..], "rejected": <n>}`.

mod guard;

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context};
use cln_plugin::options::{self, IntegerConfigOption};
use cln_plugin::{Builder, Error, Plugin};
use serde_json::{json, Value};

use guard::{paid_label, verdict, Verdict};

const MAX_MSAT_NAME: &str = "htlc-guard-max-msat";

/// What the plugin has seen since it started.
#[derive(Debug, Default)]
struct Stats {
    labels: Vec<String>,
    rejected: u64,
}

type State = Arc<Mutex<Stats>>;

fn max_msat_option() -> IntegerConfigOption<'static> {
    IntegerConfigOption::new_i64_no_default(
        MAX_MSAT_NAME,
        "Fail incoming HTLCs above this many msat (unset: accept all)",
    )
    .dynamic()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), anyhow::Error> {
    let plugin = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .option(max_msat_option())
        .setconfig_callback(setconfig)
        .hook("htlc_accepted", htlc_accepted)
        .subscribe("invoice_payment", invoice_payment)
        .rpcmethod(
            "htlcguard-status",
            "The current limit and the payments seen",
            status,
        )
        .dynamic()
        .start(State::default())
        .await?;
    if let Some(plugin) = plugin {
        log::info!("{MAX_MSAT_NAME} is {:?}", max_msat(&plugin)?);
        plugin.join().await?;
    }
    // tokio's stdin reader sits in a blocking read that the runtime would
    // wait for on shutdown: exit without it.
    std::process::exit(0)
}

fn max_msat(p: &Plugin<State>) -> Result<Option<i64>, Error> {
    p.option(&max_msat_option())
}

async fn htlc_accepted(p: Plugin<State>, payload: Value) -> Result<Value, Error> {
    let max = max_msat(&p)?;
    let answer = verdict(&payload, max);
    if let Verdict::Fail {
        payment_msat,
        reply,
    } = answer
    {
        p.state().lock().expect("stats lock").rejected += 1;
        log::info!("rejected a payment of {payment_msat} msat (above {MAX_MSAT_NAME} {max:?})");
        return Ok(reply);
    }
    Ok(json!({"result": "continue"}))
}

async fn invoice_payment(p: Plugin<State>, payload: Value) -> Result<(), Error> {
    let label = paid_label(&payload)?;
    log::info!("invoice {label} paid");
    p.state().lock().expect("stats lock").labels.push(label);
    Ok(())
}

async fn status(p: Plugin<State>, _params: Value) -> Result<Value, Error> {
    let max = max_msat(&p)?;
    let stats = p.state().lock().expect("stats lock");
    Ok(json!({
        "max_msat": max,
        "payments": stats.labels.len(),
        "labels": stats.labels,
        "rejected": stats.rejected,
    }))
}

/// lightningd sends `{"config": <name>, "val": <string>}` for a dynamic
/// option; an integer that does not parse is refused with an error.
async fn setconfig(p: Plugin<State>, params: Value) -> Result<Value, Error> {
    let name = params["config"]
        .as_str()
        .context("setconfig without `config`")?;
    if name != MAX_MSAT_NAME {
        return Err(anyhow!("htlc-guard has no dynamic option {name}"));
    }
    let raw = params["val"].as_str().context("setconfig without `val`")?;
    let value: i64 = raw
        .parse()
        .with_context(|| format!("{MAX_MSAT_NAME} must be an integer, not {raw:?}"))?;
    p.set_option_str(name, options::Value::Integer(value))?;
    log::info!("{MAX_MSAT_NAME} is {:?}", Some(value));
    Ok(json!({}))
}
