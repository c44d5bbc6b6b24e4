//! What a mock sees (one bitcoind call) and what it answers.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::value::RawValue;
use serde_json::Value;

/// One JSON-RPC call a client (lightningd's bcli plugin, through
/// `bitcoin-cli`) sent to bitcoind, as a mock handler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BitcoindCall {
    /// The RPC method, e.g. `estimatesmartfee`.
    pub method: String,
    /// The params as sent: an array for positional calls (what
    /// bitcoin-cli sends), an object for named ones; `[]` when absent.
    pub params: Value,
    /// The request id (`1` from bitcoin-cli), `null` when absent.
    pub id: Value,
    /// The wallet named by the URL (`/wallet/<name>`), if any.
    pub wallet: Option<String>,
}

impl BitcoindCall {
    /// The `i`th positional param, if the params are an array that long.
    pub fn param(&self, i: usize) -> Option<&Value> {
        self.params.as_array().and_then(|a| a.get(i))
    }
}

/// How the HTTP exchange itself fails, so the client sees a transport
/// error rather than a JSON-RPC answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFailure {
    /// Close the connection without answering: bitcoin-cli reports
    /// "Could not connect to the server ... EOF reached" and exits 1
    /// (and retries under `-rpcwait`, as when bitcoind is down).
    CloseConnection,
    /// Answer with this HTTP status and an empty body. For 500 bitcoin-cli
    /// says "no response from server"; for other 4xx/5xx "server returned
    /// HTTP error N" (401: authorization failed; 503: "Server response:").
    /// Exit code 1 in every case.
    Status(u16),
}

/// A mock handler's answer to one call.
#[derive(Debug, Clone)]
pub enum MockReply {
    /// Answer with this `result` (serialized by serde_json: write amounts
    /// with [`MockReply::raw_result`] when the client parses them as exact
    /// decimals, since `0.00001` would be written `1e-5`).
    Result(Value),
    /// Answer with this JSON text as `result`, verbatim.
    RawResult(Box<RawValue>),
    /// Answer with a JSON-RPC error, shaped and given the HTTP status
    /// bitcoind would use; bitcoin-cli prints `error code: <code>` /
    /// `error message:` and exits with `|code|` (mod 256).
    Error {
        /// The JSON-RPC error code (bitcoind's are negative, e.g. -8).
        code: i64,
        /// The error message.
        message: String,
    },
    /// Pass the call on unchanged: to the fixed feerates when they answer
    /// this method, else to bitcoind. Lets a handler mock some params only.
    Forward,
    /// Pass the call on as if it had come with these params instead.
    ForwardWith(Value),
    /// Wait, then answer with the inner reply (which may itself forward).
    Delay(Duration, Box<MockReply>),
    /// Make the HTTP request fail instead of answering.
    Fail(HttpFailure),
}

impl MockReply {
    /// [`MockReply::Result`].
    pub fn result(value: Value) -> Self {
        Self::Result(value)
    }

    /// [`MockReply::RawResult`] from JSON text, checked to be valid JSON.
    pub fn raw_result(json: impl Into<String>) -> Result<Self> {
        let json = json.into();
        let raw = RawValue::from_string(json.clone())
            .with_context(|| format!("mock result is not valid JSON: {json}"))?;
        Ok(Self::RawResult(raw))
    }

    /// [`MockReply::Error`].
    pub fn error(code: i64, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }

    /// [`MockReply::Delay`]: `reply` after `delay`.
    pub fn delay(delay: Duration, reply: MockReply) -> Self {
        Self::Delay(delay, Box::new(reply))
    }

    /// [`MockReply::Fail`] with [`HttpFailure::CloseConnection`].
    pub fn close_connection() -> Self {
        Self::Fail(HttpFailure::CloseConnection)
    }

    /// [`MockReply::Fail`] with [`HttpFailure::Status`] 500.
    pub fn http_500() -> Self {
        Self::Fail(HttpFailure::Status(500))
    }
}

/// A mock handler: called for every call to the method it is registered
/// for, on a blocking thread (it may block, e.g. to call bitcoind itself).
pub type MockHandler = dyn Fn(&BitcoindCall) -> MockReply + Send + Sync + 'static;
