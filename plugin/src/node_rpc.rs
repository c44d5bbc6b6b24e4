//! Talking back to lightningd over its JSON-RPC unix socket.
//!
//! A plugin cannot send requests on stdout (lightningd treats anything with
//! an `id` there as a response), so calls into the node go through the same
//! socket `lightning-cli` uses. `init` tells us where it is.
//!
//! The node id never changes while the node runs, so we ask `getinfo` once,
//! on the first `myplugin` call, and keep the answer. Concurrent first calls
//! share one attempt: the first caller starts it in a task of its own, later
//! callers wait for that same attempt (one connection, one `getinfo`,
//! however many callers). A failed attempt is not cached: the next call
//! tries again.
//!
//! Deadlines (issue 21, case 8). Each caller waits at most the timeout from
//! when it called, so a hung socket fails every call within the timeout
//! rather than one after the other. The attempt has one deadline, the
//! timeout from its start, the same for everyone who joins it; there is
//! never more than one attempt at a time. A caller that joined late would
//! see the attempt time out long before its own time is up (a call made
//! right after another caller's timeout could join the dying attempt and
//! fail within milliseconds, although a new connection would have been
//! answered). So when the attempt it waited for times out, a caller that
//! still has at least a tenth of its timeout left starts the next attempt
//! (or joins it, if another caller started it first) and waits for that one
//! until its own deadline. A caller with less left shares the attempt's
//! timeout: it has waited at least nine tenths of its time already, and
//! calls that arrive together (a burst of first calls) then cost one
//! connection, not one each. Errors other than a timeout are everyone's:
//! they say something about the socket, not about when one asked.

mod socket;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

pub use socket::{SocketError, MAX_REPLY};

/// How long a call may wait for `getinfo` before it fails.
pub const GETINFO_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the node id could not be had. Each message names the socket, since
/// the usual cause is a wrong or stale path.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeRpcError {
    /// Nothing to talk to at the socket's path.
    #[error("cannot connect to lightningd's RPC socket {path}: {reason}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The socket answered, but not with a node id.
    #[error("getinfo over {path} failed: {reason}")]
    Getinfo {
        /// The socket.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The socket did not answer in time.
    #[error("getinfo over {path} did not answer within {secs} s")]
    Timeout {
        /// The socket.
        path: PathBuf,
        /// The timeout.
        secs: f64,
    },
}

/// What one attempt ended with, shared by everyone who waited for it.
type Outcome = Result<String, NodeRpcError>;

/// An attempt in flight: its outcome arrives on the channel, by its
/// deadline.
type Attempt = (watch::Receiver<Option<Outcome>>, Instant);

/// The node's RPC socket and the node id learnt from it.
#[derive(Debug)]
pub struct NodeRpc {
    socket: PathBuf,
    timeout: Duration,
    /// Set once, by the attempt that succeeds.
    node_id: Arc<OnceLock<String>>,
    /// The attempt in flight, if any.
    attempt: Arc<Mutex<Option<Attempt>>>,
}

impl NodeRpc {
    /// `timeout` bounds each caller's wait for `getinfo`, and each attempt.
    pub fn new(socket: PathBuf, timeout: Duration) -> Self {
        Self {
            socket,
            timeout,
            node_id: Arc::default(),
            attempt: Arc::default(),
        }
    }

    /// The node's RPC socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The node id, from `getinfo` on first use. Must be called inside the
    /// tokio runtime (the attempt runs in a task of its own).
    pub async fn node_id(&self) -> Result<&str, NodeRpcError> {
        if let Some(id) = self.node_id.get() {
            return Ok(id);
        }
        let deadline = Instant::now() + self.timeout;
        let waited = tokio::time::timeout_at(deadline, async {
            loop {
                let (mut outcome, attempt_deadline) = self.join_attempt();
                let result = match outcome.wait_for(Option::is_some).await {
                    Ok(done) => done.clone().expect("waited for an outcome"),
                    Err(_) => Err(NodeRpcError::Getinfo {
                        path: self.socket.clone(),
                        reason: "the getinfo attempt was abandoned (the plugin is stopping)".into(),
                    }),
                };
                let left = deadline.saturating_duration_since(attempt_deadline);
                match result {
                    // Our own chance: see the module's doc.
                    Err(NodeRpcError::Timeout { .. }) if left >= self.timeout / 10 => continue,
                    result => return result,
                }
            }
        })
        .await;
        match waited {
            Err(_) => Err(self.timed_out()),
            Ok(Ok(id)) => Ok(self.node_id.get_or_init(|| id)),
            Ok(Err(err)) => Err(err),
        }
    }

    /// The attempt in flight, started now if there is none.
    fn join_attempt(&self) -> Attempt {
        let mut slot = self.attempt.lock().expect("attempt lock");
        if let Some(attempt) = slot.as_ref() {
            return attempt.clone();
        }
        let (done, outcome) = watch::channel(None);
        let deadline = Instant::now() + self.timeout;
        *slot = Some((outcome.clone(), deadline));
        let (slot, node_id) = (Arc::clone(&self.attempt), Arc::clone(&self.node_id));
        let socket = self.socket.clone();
        let timed_out = self.timed_out();
        tokio::spawn(async move {
            let result = tokio::time::timeout_at(deadline, getinfo_id(&socket))
                .await
                .unwrap_or(Err(timed_out));
            if let Ok(id) = &result {
                let _ = node_id.set(id.clone());
            }
            // Cleared before the outcome is sent: a caller that comes after
            // a failure starts the next attempt; one that comes after a
            // success finds the id.
            *slot.lock().expect("attempt lock") = None;
            let _ = done.send(Some(result));
        });
        (outcome, deadline)
    }

    fn timed_out(&self) -> NodeRpcError {
        NodeRpcError::Timeout {
            path: self.socket.clone(),
            secs: self.timeout.as_secs_f64(),
        }
    }
}

/// One `getinfo` over `socket`, filtered down to the one field we use (so
/// fields whose types changed across versions never reach us).
async fn getinfo_id(socket: &Path) -> Result<String, NodeRpcError> {
    let result = socket::call(socket, "getinfo", &json!({}), Some(&json!({"id": true})))
        .await
        .map_err(|err| match err {
            SocketError::Connect(reason) => NodeRpcError::Connect {
                path: socket.to_path_buf(),
                reason,
            },
            other => NodeRpcError::Getinfo {
                path: socket.to_path_buf(),
                reason: other.to_string(),
            },
        })?;
    match result.get("id").and_then(|id| id.as_str()) {
        Some(id) => Ok(id.to_owned()),
        None => Err(NodeRpcError::Getinfo {
            path: socket.to_path_buf(),
            reason: format!(
                "the result has no string \"id\": {}",
                crate::protocol::preview::preview(result.to_string().as_bytes())
            ),
        }),
    }
}
