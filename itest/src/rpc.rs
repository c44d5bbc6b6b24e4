//! A blocking JSON-RPC client for lightningd's unix socket.
//!
//! Tests are plain synchronous `#[test]` functions, so this wraps the async
//! `cln-rpc` client in a private single-threaded tokio runtime. Errors come
//! back exactly as lightningd sent them (code, message, data), because the
//! conformance suite compares them verbatim. Do not use it from inside an
//! async runtime (call it from `spawn_blocking` there).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use cln_rpc::ClnRpc;
use serde_json::Value;

/// An error reply from lightningd, or a transport failure (`code: None`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", match .code { Some(c) => format!("lightningd error {c}: {}", .message), None => format!("RPC transport error: {}", .message) })]
pub struct RpcError {
    /// lightningd's JSON-RPC error code; `None` when the request never got an
    /// answer (socket missing, connection closed, timeout).
    pub code: Option<i32>,
    /// lightningd's message, unmodified.
    pub message: String,
    /// lightningd's optional `data` member, unmodified.
    pub data: Option<Value>,
}

impl RpcError {
    fn transport(message: String) -> Self {
        Self {
            code: None,
            message,
            data: None,
        }
    }

    /// `(code, message)`, convenient in `assert_eq!`.
    pub fn code_message(&self) -> (Option<i32>, &str) {
        (self.code, &self.message)
    }
}

/// Connection to one lightningd; reconnects after a transport failure.
pub struct Rpc {
    path: PathBuf,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
    conn: Mutex<Option<ClnRpc>>,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc").field("path", &self.path).finish()
    }
}

impl Rpc {
    /// A client for the socket at `path`; nothing is connected yet.
    /// `timeout` bounds each call (connect plus reply).
    pub fn new(path: &Path, timeout: Duration) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            path: path.to_path_buf(),
            timeout,
            runtime,
            conn: Mutex::new(None),
        })
    }

    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Sends `method` with `params` (an array or an object, passed through
    /// unchanged) and returns lightningd's `result` or its error.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_with_timeout(method, params, self.timeout)
    }

    /// [`Rpc::call`] with an explicit time limit.
    pub fn call_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                if guard.is_none() {
                    let conn = ClnRpc::new(&self.path).await.map_err(|e| {
                        RpcError::transport(format!("connecting to {}: {e}", self.path.display()))
                    })?;
                    *guard = Some(conn);
                }
                let conn = guard.as_mut().expect("connected above");
                conn.call_raw::<Value, Value>(method, &params)
                    .await
                    .map_err(|e| RpcError {
                        code: e.code,
                        message: e.message,
                        data: e.data,
                    })
            })
            .await
            .unwrap_or_else(|_| {
                Err(RpcError::transport(format!(
                    "no reply to `{method}` within {}s",
                    timeout.as_secs()
                )))
            })
        });
        if matches!(&result, Err(e) if e.code.is_none()) {
            // The stream may be half-read or closed: start afresh next time.
            *guard = None;
        }
        result
    }
}
