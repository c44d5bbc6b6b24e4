//! A blocking JSON-RPC client for lightningd's unix socket.
//!
//! Each call runs the async `cln-rpc` client on the harness's own runtime
//! (`runtime`), so it works from plain `#[test]` threads and from inside
//! `#[tokio::test]` alike. Errors come back exactly as lightningd sent them
//! (code, message, data), because the conformance suite compares them
//! verbatim.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cln_rpc::model::TypedRequest;
use cln_rpc::ClnRpc;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

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
    pub(crate) fn transport(message: String) -> Self {
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

impl From<cln_rpc::RpcError> for RpcError {
    fn from(e: cln_rpc::RpcError) -> Self {
        Self {
            code: e.code,
            message: e.message,
            data: e.data,
        }
    }
}

/// Connection to one lightningd; reconnects after a transport failure.
pub(crate) struct Rpc {
    path: PathBuf,
    timeout: Duration,
    conn: Arc<Mutex<Option<ClnRpc>>>,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc").field("path", &self.path).finish()
    }
}

impl Rpc {
    /// A client for the socket at `path`; nothing is connected yet.
    /// `timeout` bounds each call (connect plus reply).
    pub fn new(path: &Path, timeout: Duration) -> Self {
        Self {
            path: path.to_path_buf(),
            timeout,
            conn: Arc::default(),
        }
    }

    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Forgets the connection (the next call connects afresh).
    pub fn reset(&self) {
        let conn = self.conn.clone();
        crate::runtime::block_on(async move { *conn.lock().await = None });
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
        self.run(method, timeout, params)
    }

    /// A typed `cln-rpc` request.
    pub fn call_typed<R>(&self, request: R) -> Result<R::Response, RpcError>
    where
        R: TypedRequest + Serialize + Debug + Send + Sync + 'static,
        R::Response: DeserializeOwned + Debug + Send + 'static,
    {
        let method = request.method().to_string();
        self.run(&method, self.timeout, request)
    }

    fn run<P, T>(&self, method: &str, timeout: Duration, params: P) -> Result<T, RpcError>
    where
        P: Serialize + Debug + Send + Sync + 'static,
        T: DeserializeOwned + Debug + Send + 'static,
    {
        let conn = self.conn.clone();
        let path = self.path.clone();
        let method = method.to_string();
        crate::runtime::block_on(async move {
            let mut guard = conn.lock().await;
            let result = tokio::time::timeout(timeout, async {
                if guard.is_none() {
                    let c = ClnRpc::new(&path).await.map_err(|e| {
                        RpcError::transport(format!("connecting to {}: {e}", path.display()))
                    })?;
                    *guard = Some(c);
                }
                let c = guard.as_mut().expect("connected above");
                c.call_raw::<T, P>(&method, &params)
                    .await
                    .map_err(RpcError::from)
            })
            .await
            .unwrap_or_else(|_| {
                Err(RpcError::transport(format!(
                    "no reply to `{method}` within {}s",
                    timeout.as_secs()
                )))
            });
            if matches!(&result, Err(e) if e.code.is_none()) {
                // The stream may be half-read or closed: start afresh.
                *guard = None;
            }
            result
        })
    }
}
