//! The connection to one socket.
//!
//! One connection, behind a lock held for the whole call: calls on one
//! node run one at a time. A connection whose stream may be half-read (a
//! broken connection, a call that timed out) is dropped; after
//! [`Pool::reset`] the next call connects afresh.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cln_rpc::ClnRpc;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::rpc::CallError;

pub(super) struct Pool {
    path: PathBuf,
    conn: Mutex<Option<ClnRpc>>,
}

impl Pool {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            conn: Mutex::default(),
        }
    }

    pub fn reset(self: &Arc<Self>) {
        let pool = self.clone();
        crate::runtime::block_on(async move { *pool.conn.lock().await = None });
    }

    /// One call; see the module docs.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let mut guard = self.conn.lock().await;
        let exchange = async {
            if guard.is_none() {
                let conn = ClnRpc::new(&self.path).await.map_err(|e| {
                    CallError::NoReply(format!("connecting to {}: {e}", self.path.display()))
                })?;
                *guard = Some(conn);
            }
            let conn = guard.as_mut().expect("connected above");
            Ok(conn.call_raw::<Value, Value>(method, &params).await)
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(CallError::Timeout(timeout)),
            Ok(Err(e)) => Err(e),
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(e))) => match e.code {
                Some(code) => Err(CallError::Reply {
                    code,
                    message: e.message,
                    data: e.data,
                }),
                None => Err(CallError::NoReply(e.message)),
            },
        };
        if matches!(result, Err(CallError::NoReply(_) | CallError::Timeout(_))) {
            // The stream may be half-read or closed: start afresh.
            *guard = None;
        }
        result
    }
}
