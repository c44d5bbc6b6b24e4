//! Blocking and background calls on the harness runtime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::rpc::pool::Pool;
use crate::rpc::CallError;

/// The calls to one lightningd's socket.
pub(crate) struct Rpc {
    path: PathBuf,
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc").field("path", &self.path).finish()
    }
}

impl Rpc {
    /// A client for the socket at `path`; nothing is connected yet.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            pool: Arc::new(Pool::new(path)),
        }
    }

    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Forgets every idle connection and every connection in use (they are
    /// closed when their calls end), so that the next call connects afresh
    /// (a restarted lightningd has a new socket).
    pub fn reset(&self) {
        self.pool.reset();
    }

    /// Sends `method` with `params` (an array or an object, passed through
    /// unchanged) and returns lightningd's `result` or its error, waiting
    /// at most `timeout` for the connection and the reply.
    pub fn call(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, CallError> {
        let pool = self.pool.clone();
        let method = method.to_string();
        crate::runtime::block_on(async move { pool.call(&method, params, timeout).await })
    }

    /// Starts the call on the harness runtime and returns at once; its
    /// result is collected from the returned [`InFlight`].
    pub fn spawn(&self, method: &str, params: Value, timeout: Duration) -> InFlight {
        let pool = self.pool.clone();
        let method = method.to_string();
        let slot = Arc::new(Slot::default());
        let filled = slot.clone();
        crate::runtime::handle().spawn(async move {
            let result = pool.call(&method, params, timeout).await;
            *filled.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            filled.ready.notify_all();
        });
        InFlight { slot }
    }
}

#[derive(Default)]
struct Slot {
    result: Mutex<Option<Result<Value, CallError>>>,
    ready: Condvar,
}

/// A call running in the background ([`Rpc::spawn`]). Dropping it does not
/// cancel the call: it runs until it is answered or its limit passes.
pub(crate) struct InFlight {
    slot: Arc<Slot>,
}

impl InFlight {
    /// Whether the call has finished (answered, failed or timed out).
    pub fn is_done(&self) -> bool {
        self.lock().is_some()
    }

    /// Blocks until the call has finished and returns its result.
    pub fn wait(self) -> Result<Value, CallError> {
        let mut result = self.lock();
        loop {
            if let Some(done) = result.take() {
                return done;
            }
            result = self
                .slot
                .ready
                .wait(result)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Result<Value, CallError>>> {
        self.slot.result.lock().unwrap_or_else(|p| p.into_inner())
    }
}
