//! What we tell lightningd about ourselves in reply to `getmanifest`.

use serde_json::{json, Value};

/// Name of our single startup option.
pub const FOO_OPT: &str = "foo_opt";
/// Its value when nobody sets it.
pub const FOO_OPT_DEFAULT: &str = "bar";
/// Name of our single RPC method.
pub const METHOD: &str = "myplugin";

/// The `result` of our `getmanifest` response.
///
/// - `dynamic: true` is what allows `lightning-cli plugin start/stop` while
///   the node runs (lightningd's default is false).
/// - `nonnumericids: true` asks for string ids on v23.02/v24.11, which would
///   otherwise send bare numbers; from v25.05 strings are the only choice
///   (and `false` is refused). We echo ids verbatim either way.
/// - we subscribe to `shutdown` so that `plugin stop` and a stopping node
///   ask us to exit instead of killing us.
pub fn manifest() -> Value {
    json!({
        "options": [{
            "name": FOO_OPT,
            "type": "string",
            "default": FOO_OPT_DEFAULT,
            "description": "A string echoed back by the myplugin method; set it with \
                            `plugin start ... foo_opt=VALUE` or `--foo_opt=VALUE`.",
        }],
        "rpcmethods": [{
            "name": METHOD,
            "usage": "[param...]",
            "description": "Returns this node's id (from getinfo), the foo_opt value, \
                            and the params it was called with, exactly as received.",
        }],
        "subscriptions": ["shutdown"],
        "dynamic": true,
        "nonnumericids": true,
    })
}
