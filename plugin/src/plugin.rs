//! What myplugin does with each message: the plugin's own logic.
//!
//! The life of a dynamic plugin started by `lightning-cli plugin start`:
//! 1. `getmanifest`: we declare our option, our method, and that we are
//!    dynamic.
//! 2. `init`: lightningd gives the option values and where its RPC socket
//!    is. We only remember them: lightningd waits for this reply (and
//!    `plugin start` with it), so nothing slow happens here.
//! 3. `myplugin` calls, passed through from lightningd's RPC clients, served
//!    concurrently.
//! 4. a `shutdown` notification, or stdin closing: we exit.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::manifest::{manifest, FOO_OPT, FOO_OPT_DEFAULT, METHOD};
use crate::messages::{codes, Incoming, Level, Outgoing};
use crate::node_rpc::NodeRpc;
use crate::output::Output;

/// Whether to keep reading stdin after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Shutdown,
}

/// What `init` told us.
#[derive(Debug)]
struct Config {
    foo_opt: Value,
    node: NodeRpc,
}

/// The plugin's state, shared by the tasks serving requests.
pub struct Plugin {
    out: Output,
    config: OnceLock<Config>,
}

/// The result of `myplugin`. A struct, so the keys keep this order.
#[derive(Serialize)]
struct MypluginResult<'a> {
    node_id: &'a str,
    option: OptionValues<'a>,
    cli_params: &'a RawValue,
}

#[derive(Serialize)]
struct OptionValues<'a> {
    foo_opt: &'a Value,
}

impl Plugin {
    pub fn new(out: Output) -> Arc<Self> {
        Arc::new(Self {
            out,
            config: OnceLock::new(),
        })
    }

    /// Handles one message. Handshake messages are answered before the next
    /// message is read (lightningd sends nothing else meanwhile); method calls
    /// run as their own tasks so a slow one holds up nobody.
    pub fn dispatch(self: &Arc<Self>, message: Incoming) -> Flow {
        match message {
            Incoming::Request { id, method, params } => match method.as_str() {
                "getmanifest" => self.out.send(Outgoing::result(id, &manifest())),
                "init" => self.out.send(self.init(id, &params)),
                METHOD => {
                    let plugin = Arc::clone(self);
                    tokio::spawn(async move {
                        let reply = plugin.myplugin(id, params).await;
                        plugin.out.send(reply);
                    });
                }
                other => {
                    self.out.log(
                        Level::Warn,
                        format!("answered -32601 to a call of unknown method '{other}'"),
                    );
                    let message =
                        format!("Unknown method '{other}': myplugin only serves '{METHOD}'");
                    self.out
                        .send(Outgoing::error(id, codes::METHOD_NOT_FOUND, message, None));
                }
            },
            Incoming::Invalid { id, reason } => {
                self.out
                    .log(Level::Warn, format!("answered -32600: {reason}"));
                self.out
                    .send(Outgoing::error(id, codes::INVALID_REQUEST, reason, None));
            }
            Incoming::Notification { method, params } => {
                if method == "shutdown" {
                    // v23.02 sends `{}`, v24.02+ `{"shutdown":{}}`: either way
                    // the method name is all that matters.
                    self.out
                        .log(Level::Debug, "shutdown notification received, exiting");
                    return Flow::Shutdown;
                }
                self.out.log(
                    Level::Debug,
                    format!(
                        "ignoring notification '{method}' with params {}",
                        params.get()
                    ),
                );
            }
        }
        Flow::Continue
    }

    fn init(&self, id: Box<RawValue>, params: &RawValue) -> Outgoing {
        let params: Value = serde_json::from_str(params.get()).unwrap_or(Value::Null);
        let foo_opt = params["options"][FOO_OPT].clone();
        let foo_opt = if foo_opt.is_null() {
            Value::from(FOO_OPT_DEFAULT)
        } else {
            foo_opt
        };
        let conf = &params["configuration"];
        let (Some(dir), Some(rpc_file)) =
            (conf["lightning-dir"].as_str(), conf["rpc-file"].as_str())
        else {
            let message = "init params lack configuration.lightning-dir or configuration.rpc-file";
            self.out.log(Level::Error, format!("{message}: {params}"));
            return Outgoing::error(id, codes::INVALID_PARAMS, message, None);
        };
        // rpc-file is relative to lightning-dir unless absolute; join handles both.
        let socket = PathBuf::from(dir).join(rpc_file);
        let shown = foo_opt
            .as_str()
            .map_or_else(|| foo_opt.to_string(), str::to_owned);
        self.out.log(
            Level::Debug,
            format!("init: {FOO_OPT}={shown}, rpc socket {}", socket.display()),
        );
        if self
            .config
            .set(Config {
                foo_opt,
                node: NodeRpc::new(socket),
            })
            .is_err()
        {
            self.out.log(
                Level::Warn,
                "second init ignored: keeping the first one's settings",
            );
        }
        Outgoing::result(id, &json!({}))
    }

    async fn myplugin(&self, id: Box<RawValue>, params: Box<RawValue>) -> Outgoing {
        let Some(config) = self.config.get() else {
            let message = "myplugin was called before init: lightningd never does this";
            self.out.log(Level::Warn, message);
            return Outgoing::error(id, codes::INTERNAL_ERROR, message, None);
        };
        match config.node.node_id().await {
            Ok(node_id) => Outgoing::result(
                id,
                &MypluginResult {
                    node_id,
                    option: OptionValues {
                        foo_opt: &config.foo_opt,
                    },
                    cli_params: &params,
                },
            ),
            Err(err) => {
                let message = format!("myplugin could not get the node id: {err}");
                self.out.log(Level::Warn, &message);
                let data = json!({ "rpc_socket": config.node.socket() });
                Outgoing::error(id, codes::INTERNAL_ERROR, message, Some(data))
            }
        }
    }
}
