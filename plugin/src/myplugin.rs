//! What myplugin is: one option, one method. The protocol that carries it is
//! in [`crate::protocol`]; this file is only the plugin's own logic.
//!
//! The life of myplugin, started by `lightning-cli plugin start`:
//! 1. `getmanifest`: we declare the option `foo_opt`, the method `myplugin`,
//!    that we are dynamic, and that we want the `shutdown` notification.
//! 2. `init`: lightningd gives the option's value and where its RPC socket
//!    is. We only remember them.
//! 3. `myplugin [param...]`: we answer with the node id (from `getinfo` over
//!    the socket, asked once), the option's value and the params as received.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use crate::node_rpc::{NodeRpc, GETINFO_TIMEOUT};
use crate::protocol::preview::bounded;
use crate::protocol::{
    result, Call, ConfigOption, Handler, Init, Log, Manifest, OptionType, RpcError, RpcMethod,
};

/// Name of our single startup option.
pub const FOO_OPT: &str = "foo_opt";
/// Its value when nobody sets it.
pub const FOO_OPT_DEFAULT: &str = "bar";
/// Name of our single RPC method.
pub const METHOD: &str = "myplugin";
/// Environment variable overriding how long a call waits for `getinfo`, in
/// seconds (default 30).
pub const GETINFO_TIMEOUT_ENV: &str = "MYPLUGIN_GETINFO_TIMEOUT";

/// Our option values, as `init` delivers them. Also the `option` member of
/// our reply.
#[derive(Debug, Deserialize, Serialize)]
pub struct Options {
    #[serde(default = "foo_opt_default")]
    foo_opt: String,
}

fn foo_opt_default() -> String {
    FOO_OPT_DEFAULT.to_owned()
}

/// What `init` told us.
struct Config {
    options: Options,
    node: NodeRpc,
}

/// The result of `myplugin`. A struct, so the keys keep this order.
#[derive(Serialize)]
struct Reply<'a> {
    node_id: &'a str,
    option: &'a Options,
    cli_params: &'a RawValue,
}

/// myplugin's state: empty until `init`.
pub struct MyPlugin {
    getinfo_timeout: Duration,
    config: OnceLock<Config>,
}

impl MyPlugin {
    /// A plugin waiting for `init`; the `getinfo` timeout comes from
    /// [`GETINFO_TIMEOUT_ENV`] if set.
    pub fn from_env() -> Self {
        let getinfo_timeout = std::env::var(GETINFO_TIMEOUT_ENV)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .unwrap_or(GETINFO_TIMEOUT);
        Self {
            getinfo_timeout,
            config: OnceLock::new(),
        }
    }
}

impl Handler for MyPlugin {
    type Options = Options;

    fn manifest(&self) -> Manifest {
        Manifest {
            options: vec![ConfigOption {
                name: FOO_OPT.into(),
                kind: OptionType::String,
                default: Some(FOO_OPT_DEFAULT.into()),
                description: "A string echoed back by the myplugin method; set it with \
                              `plugin start ... foo_opt=VALUE` or `--foo_opt=VALUE`."
                    .into(),
            }],
            rpcmethods: vec![RpcMethod {
                name: METHOD.into(),
                usage: "[param...]".into(),
                description: "Returns this node's id (from getinfo), the foo_opt value, \
                              and the params it was called with, exactly as received."
                    .into(),
            }],
            subscriptions: vec!["shutdown".into()],
            dynamic: true,
            nonnumericids: true,
        }
    }

    fn init(&self, init: Init<Options>, log: &Log) -> Result<(), RpcError> {
        let socket = init.configuration.rpc_socket();
        log.debug(format!(
            "init: {FOO_OPT}={}, rpc socket {}",
            init.options.foo_opt,
            socket.display()
        ));
        let config = Config {
            options: init.options,
            node: NodeRpc::new(socket, self.getinfo_timeout),
        };
        if self.config.set(config).is_err() {
            log.warn("second init ignored: keeping the first one's settings");
        }
        Ok(())
    }

    /// `myplugin`: the only method we declare, so the only one we get.
    async fn call(self: Arc<Self>, call: Call) -> Result<Box<RawValue>, RpcError> {
        let config = self.config.get().expect("the protocol calls us after init");
        match config.node.node_id().await {
            Ok(node_id) => result(&Reply {
                node_id,
                option: &config.options,
                cli_params: &call.params,
            }),
            Err(err) => {
                // It quotes the socket's error: cut as a log line is.
                let message = bounded(format!("myplugin could not get the node id: {err}"));
                call.log.warn(&message);
                let socket = config.node.socket();
                Err(RpcError::internal(message).with_data(json!({ "rpc_socket": socket })))
            }
        }
    }
}
