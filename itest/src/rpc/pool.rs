//! Connections to one socket: one per call in flight, idle ones kept.
//!
//! A call takes an idle connection (or opens one), owns it until its reply
//! has been read, and then gives it back. A connection whose stream may be
//! half-read (a broken connection, a call that timed out) is dropped, never
//! given back. After [`Pool::reset`] (the node stopped or starts again), a
//! connection opened before is dropped too, so no call reaches an old
//! lightningd's socket.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cln_rpc::ClnRpc;
use serde_json::Value;

use crate::rpc::CallError;

/// How many idle connections are kept; more are closed when given back.
const MAX_IDLE: usize = 8;

pub(super) struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<ClnRpc>>,
    /// Bumped by every reset; a connection opened in an older generation is
    /// not given back.
    generation: AtomicU64,
}

impl Pool {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::default(),
            generation: AtomicU64::new(0),
        }
    }

    pub fn reset(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        idle.clear();
    }

    fn take_idle(&self) -> (u64, Option<ClnRpc>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        (self.generation.load(Ordering::SeqCst), idle.pop())
    }

    fn give_back(&self, generation: u64, conn: ClnRpc) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::SeqCst) == generation && idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// One call on a connection of its own; see the module docs.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let (generation, idle) = self.take_idle();
        let exchange = async {
            let mut conn = match idle {
                Some(conn) => conn,
                None => super::connect::cln_rpc(&self.path).await.map_err(|e| {
                    CallError::NoReply(format!("connecting to {}: {e}", self.path.display()))
                })?,
            };
            let reply = conn.call_raw::<Value, Value>(method, &params).await;
            Ok((conn, reply))
        };
        match tokio::time::timeout(timeout, exchange).await {
            // The connection is dropped with the future: a late reply
            // cannot be read as the answer to another call.
            Err(_) => Err(CallError::Timeout(timeout)),
            Ok(Err(e)) => Err(e),
            Ok(Ok((conn, Ok(result)))) => {
                self.give_back(generation, conn);
                Ok(result)
            }
            Ok(Ok((conn, Err(e)))) => match e.code {
                Some(code) => {
                    // A whole error reply was read: the stream is intact.
                    self.give_back(generation, conn);
                    Err(CallError::Reply {
                        code,
                        message: e.message,
                        data: e.data,
                    })
                }
                None => Err(CallError::NoReply(e.message)),
            },
        }
    }
}
