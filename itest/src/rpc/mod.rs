//! A blocking JSON-RPC client for lightningd's unix socket.
//!
//! - `pool`: the connections. Every call has a connection of its own for
//!   as long as it runs, so a call never waits behind another one on the
//!   same node (a `waitblockheight` does not hold up a `getinfo`), as with
//!   pyln-client, which opens one per call. Idle connections are kept for
//!   the next call instead of reconnecting every time.
//! - `client`: calls on the harness's own runtime (`runtime`), so they
//!   work from plain `#[test]` threads and from inside `#[tokio::test]`
//!   alike, blocking or in the background;
//! - `connect`: reaching a socket whose path is longer than `sun_path`
//!   allows (a long lightning-dir);
//! - this file: how a call can fail.
//!
//! Errors come back exactly as lightningd sent them (code, message, data),
//! and nothing here knows which node it talks to: `node::calls` names it.
//! Replies are parsed with serde_json's `float_roundtrip` (see
//! `Cargo.toml`), so every number is the `f64` closest to what lightningd
//! wrote, the same as `str::parse::<f64>` gives.

pub(crate) mod client;
pub(crate) mod connect;
mod pool;

use std::time::Duration;

use serde_json::Value;

/// Why a call failed, before it is told which node it was on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    /// lightningd answered with an error.
    Reply {
        code: i32,
        message: String,
        data: Option<Value>,
    },
    /// No answer: connecting failed, the connection broke, or the reply was
    /// unreadable.
    NoReply(String),
    /// No answer within the limit.
    Timeout(Duration),
}
