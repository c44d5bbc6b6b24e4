//! What a plugin provides to the protocol layer: the [`Handler`] trait, and
//! the typed data that crosses it (the manifest, `init`'s options and
//! configuration, method calls and their errors).
//!
//! The protocol layer answers `getmanifest` and `init`, routes calls of the
//! declared methods to [`Handler::call`], answers everything else itself, and
//! exits on `shutdown`. A plugin never sees JSON-RPC framing or ids.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::messages::{codes, ErrorObject, Level};
use super::writer::Output;

/// A plugin's logic. See `myplugin.rs` for a complete one.
pub trait Handler: Send + Sync + 'static {
    /// The plugin's startup options as `init` delivers them, e.g. a struct
    /// with one field per declared option.
    type Options: DeserializeOwned;

    /// What to declare in reply to `getmanifest`.
    fn manifest(&self) -> Manifest;

    /// Takes the option values and the node's configuration. lightningd waits
    /// for this (and `plugin start` with it), so do nothing slow here.
    fn init(&self, init: Init<Self::Options>, log: &Log) -> Result<(), RpcError>;

    /// Serves one call of a method declared in the manifest. Calls run
    /// concurrently; a call that finishes without waiting is answered inline,
    /// with no task spawned.
    fn call(
        self: Arc<Self>,
        call: Call,
    ) -> impl Future<Output = Result<Box<RawValue>, RpcError>> + Send + 'static;
}

/// The `result` of `getmanifest`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Startup options the plugin takes.
    pub options: Vec<ConfigOption>,
    /// JSON-RPC methods the plugin adds to lightningd.
    pub rpcmethods: Vec<RpcMethod>,
    /// Notification topics; include `"shutdown"` so that `plugin stop` and a
    /// stopping node ask the plugin to exit instead of killing it.
    pub subscriptions: Vec<String>,
    /// `true` allows `plugin start`/`stop` while the node runs.
    pub dynamic: bool,
    /// `true` asks v23.02-v24.11 for string ids (later versions only use
    /// strings). Ids are echoed verbatim either way.
    pub nonnumericids: bool,
}

/// One startup option (`--name=value`, or `plugin start ... name=value`).
#[derive(Debug, Clone, Serialize)]
pub struct ConfigOption {
    /// The option's name, without `--`.
    pub name: String,
    /// Its type, which lightningd checks values against.
    #[serde(rename = "type")]
    pub kind: OptionType,
    /// Its value when nobody sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// What `lightningd --help` says about it.
    pub description: String,
}

/// The option types lightningd knows.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    /// Any string.
    String,
    /// An integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// Present or not, no value.
    Flag,
}

/// One JSON-RPC method the plugin adds to lightningd.
#[derive(Debug, Clone, Serialize)]
pub struct RpcMethod {
    /// The method's name.
    pub name: String,
    /// Its parameters, as `lightning-cli help` shows them.
    pub usage: String,
    /// What it does (`help` shows it before v24.08).
    pub description: String,
}

/// The params of `init`.
#[derive(Debug, Deserialize)]
pub struct Init<O> {
    /// Values of the declared options (lightningd omits unset ones without
    /// a default on some versions: give the fields serde defaults).
    pub options: O,
    /// Where the node is and how it runs.
    pub configuration: Configuration,
}

/// The parts of `init`'s `configuration` a plugin commonly needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Configuration {
    /// The node's directory (its network subdirectory).
    #[serde(rename = "lightning-dir")]
    pub lightning_dir: PathBuf,
    /// Relative to `lightning_dir` unless absolute.
    #[serde(rename = "rpc-file")]
    pub rpc_file: PathBuf,
    /// Whether the plugin was started with the node, not by `plugin start`.
    #[serde(default)]
    pub startup: bool,
    /// `bitcoin`, `regtest`, ...
    #[serde(default)]
    pub network: Option<String>,
}

impl Configuration {
    /// The node's JSON-RPC socket (what `lightning-cli` talks to).
    pub fn rpc_socket(&self) -> PathBuf {
        self.lightning_dir.join(&self.rpc_file)
    }
}

/// One call of a declared method.
#[derive(Debug)]
pub struct Call {
    /// Which of the declared methods.
    pub method: String,
    /// The params as received, compacted (an array or an object).
    pub params: Box<RawValue>,
    /// Where to log about it.
    pub log: Log,
}

/// An error reply to a call.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError(pub ErrorObject);

impl RpcError {
    /// An error with a standard or plugin-defined code.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError(ErrorObject {
            code,
            message: message.into(),
            data: None,
        })
    }

    /// `-32603`: the work could not be done.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL_ERROR, message)
    }

    /// Adds the error's `data` member.
    pub fn with_data(mut self, data: Value) -> Self {
        self.0.data = Some(data);
        self
    }
}

/// Serialises a call's result.
pub fn result(value: &impl Serialize) -> Result<Box<RawValue>, RpcError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| RpcError::internal(format!("cannot serialise the result: {e}")))
}

/// Writes to the node's log (`plugin-<name>: <message>`).
#[derive(Clone)]
pub struct Log(pub(super) Output);

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Log")
    }
}

impl Log {
    /// A line shown with `--log-level=debug`.
    pub fn debug(&self, message: impl Into<String>) {
        self.0.log(Level::Debug, message);
    }

    /// A line shown by default.
    pub fn info(&self, message: impl Into<String>) {
        self.0.log(Level::Info, message);
    }

    /// Something went wrong, but the plugin carries on.
    pub fn warn(&self, message: impl Into<String>) {
        self.0.log(Level::Warn, message);
    }

    /// Something failed.
    pub fn error(&self, message: impl Into<String>) {
        self.0.log(Level::Error, message);
    }
}
