//! Benchmark peer: the `myplugin` contract written with the `cln-plugin`
//! crate, the way its documentation suggests (the builder, `dynamic()`, one
//! option with a default, one RPC method, a `shutdown` subscription).
//!
//! `myplugin` replies `{"node_id", "option": {"foo_opt"}, "cli_params"}`:
//! the node id comes from `getinfo` over lightningd's RPC socket, asked once
//! and cached; `cli_params` are the params as received (serde_json's
//! `preserve_order` keeps an object's key order).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use cln_plugin::options::DefaultStringConfigOption;
use cln_plugin::{Builder, Error, Plugin};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

const FOO_OPT: DefaultStringConfigOption<'static> =
    DefaultStringConfigOption::new_str_with_default("foo_opt", "bar", "A string echoed back by myplugin");

#[derive(Clone, Default)]
struct State {
    node_id: Arc<OnceCell<String>>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), anyhow::Error> {
    let plugin = Builder::new(tokio::io::stdin(), tokio::io::stdout())
        .option(FOO_OPT)
        .rpcmethod("myplugin", "Node id, foo_opt and the params as received", myplugin)
        .subscribe("shutdown", |p: Plugin<State>, _v: Value| async move { p.shutdown() })
        .dynamic()
        .start(State::default())
        .await?;
    if let Some(p) = plugin {
        p.join().await?;
    }
    // tokio's stdin reader sits in a blocking read that the runtime would
    // wait for on shutdown: exit without it.
    std::process::exit(0)
}

async fn myplugin(p: Plugin<State>, params: Value) -> Result<Value, Error> {
    let foo_opt = p.option(&FOO_OPT)?;
    let node_id = p
        .state()
        .node_id
        .get_or_try_init(|| async {
            let conf = p.configuration();
            let socket = PathBuf::from(&conf.lightning_dir).join(&conf.rpc_file);
            let mut rpc = cln_rpc::ClnRpc::new(&socket)
                .await
                .with_context(|| format!("connecting to {}", socket.display()))?;
            let info: Value = rpc
                .call_raw("getinfo", &json!({}))
                .await
                .map_err(|e| anyhow!("getinfo: {e}"))?;
            info["id"]
                .as_str()
                .map(str::to_string)
                .context("getinfo has no id")
        })
        .await?;
    Ok(json!({
        "node_id": node_id,
        "option": {"foo_opt": foo_opt},
        "cli_params": params,
    }))
}
