//! Talking back to lightningd over its JSON-RPC unix socket.
//!
//! A plugin cannot send requests on stdout (lightningd treats anything with
//! an `id` there as a response), so calls into the node go through the same
//! socket `lightning-cli` uses. `init` tells us where it is.
//!
//! The node id never changes while the node runs, so we ask `getinfo` once,
//! on the first `myplugin` call, and keep the answer. Concurrent first calls
//! share one attempt, and each caller waits at most the timeout for it, so a
//! hung socket fails every waiting call within the timeout rather than one
//! after the other. A failed attempt is not cached: the next call tries
//! again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cln_rpc::ClnRpc;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::OnceCell;

/// How long a call may wait for `getinfo` before it fails.
pub const GETINFO_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the node id could not be had. Each message names the socket, since
/// the usual cause is a wrong or stale path.
#[derive(Debug, thiserror::Error)]
pub enum NodeRpcError {
    #[error("cannot connect to lightningd's RPC socket {path}: {reason}")]
    Connect { path: PathBuf, reason: String },
    #[error("getinfo over {path} failed: {reason}")]
    Getinfo { path: PathBuf, reason: String },
    #[error("getinfo over {path} did not answer within {secs} s")]
    Timeout { path: PathBuf, secs: f64 },
}

/// The one field of `getinfo` we use. Deserialising only `id` keeps us
/// independent of fields whose types changed across CLN versions (v23.02
/// with deprecated APIs on returns `fees_collected_msat` as a string).
/// cln-rpc cannot send a `filter`, so lightningd still sends the rest.
#[derive(Deserialize, Debug)]
struct GetinfoId {
    id: String,
}

/// The node's RPC socket and the node id learnt from it.
#[derive(Debug)]
pub struct NodeRpc {
    socket: PathBuf,
    node_id: OnceCell<String>,
    timeout: Duration,
}

impl NodeRpc {
    /// `timeout` bounds each caller's wait for `getinfo`.
    pub fn new(socket: PathBuf, timeout: Duration) -> Self {
        Self {
            socket,
            node_id: OnceCell::new(),
            timeout,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The node id, from `getinfo` on first use.
    pub async fn node_id(&self) -> Result<&str, NodeRpcError> {
        if let Some(id) = self.node_id.get() {
            return Ok(id);
        }
        // The timeout is around this caller's wait, not inside the shared
        // attempt: callers queued behind a hung attempt time out with it.
        let attempt = self.node_id.get_or_try_init(|| self.getinfo_id());
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(id) => Ok(id?),
            Err(_) => Err(NodeRpcError::Timeout {
                path: self.socket.clone(),
                secs: self.timeout.as_secs_f64(),
            }),
        }
    }

    async fn getinfo_id(&self) -> Result<String, NodeRpcError> {
        let path = || self.socket.clone();
        let mut rpc = ClnRpc::new(&self.socket)
            .await
            .map_err(|e| NodeRpcError::Connect {
                path: path(),
                reason: format!("{e:#}"),
            })?;
        let info: GetinfoId =
            rpc.call_raw("getinfo", &json!({}))
                .await
                .map_err(|e| NodeRpcError::Getinfo {
                    path: path(),
                    reason: e.to_string(),
                })?;
        Ok(info.id)
    }
}
