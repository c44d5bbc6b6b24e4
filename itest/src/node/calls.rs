//! A node's JSON-RPC: raw calls, typed calls, and the helpers built on them.

use std::fmt::Debug;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use cln_rpc::model::TypedRequest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::{Node, TAIL_LINES};
use crate::rpc::RpcError;
use crate::wait::wait_until;

impl Node {
    /// Adds the node's dir, state and log tail to an error.
    pub fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        let state = match self.exit_status() {
            Some(status) => format!("{} DIED ({status})", self.name),
            None if self.is_running() => format!("{} is running", self.name),
            None => format!("{} is stopped", self.name),
        };
        anyhow!(
            "{err:#}\n{state}; lightning-dir: {}\n{}",
            self.dir.display(),
            self.log_tail(TAIL_LINES)
        )
    }

    /// Calls `method` with `params` (array or object, sent unchanged) and
    /// returns lightningd's result or its error exactly as sent.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.rpc
            .call(method, params)
            .map_err(|e| self.note_death(e))
    }

    /// A typed call with `cln-rpc`'s request and response models:
    /// `node.call_typed(GetinfoRequest {})?.id`.
    pub fn call_typed<R>(&self, request: R) -> Result<R::Response, RpcError>
    where
        R: TypedRequest + Serialize + Debug + Send + Sync + 'static,
        R::Response: DeserializeOwned + Debug + Send + 'static,
    {
        self.rpc.call_typed(request).map_err(|e| self.note_death(e))
    }

    /// A transport error from a node that died says so.
    fn note_death(&self, mut err: RpcError) -> RpcError {
        if err.code.is_none() {
            if let Some(status) = self.exit_status() {
                err.message = format!(
                    "{} (lightningd {} died: {status}; log {})",
                    err.message,
                    self.name,
                    self.log_path().display()
                );
            }
        }
        err
    }

    /// [`Node::call`] for when an error is not expected: the error says
    /// which node and call failed, and, if the node died, its log tail.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        let shown = params.to_string();
        self.call(method, params).map_err(|e| {
            let err = anyhow!(e).context(format!("{}: `{method}` {shown}", self.name));
            if self.exit_status().is_some() {
                self.explain(err)
            } else {
                err
            }
        })
    }

    /// An async `cln-rpc` client on this node's socket, for use inside your
    /// own tokio runtime (`#[tokio::test]`).
    pub async fn cln_rpc(&self) -> Result<cln_rpc::ClnRpc> {
        cln_rpc::ClnRpc::new(self.socket_path())
            .await
            .with_context(|| format!("connecting to {}", self.socket_path().display()))
    }

    /// The RPC socket (`<lightning-dir>/regtest/lightning-rpc`).
    pub fn socket_path(&self) -> &Path {
        self.rpc.socket_path()
    }

    /// This node's public key, from `getinfo`.
    pub fn id(&self) -> Result<String> {
        let info = self.rpc("getinfo", json!({}))?;
        info["id"]
            .as_str()
            .map(str::to_string)
            .context("getinfo has no string `id`")
    }

    /// The block height lightningd has processed.
    pub fn blockheight(&self) -> Result<u64> {
        self.rpc("getinfo", json!({}))?["blockheight"]
            .as_u64()
            .context("getinfo has no numeric `blockheight`")
    }

    /// Waits until lightningd has processed block `height`.
    pub fn wait_blockheight(&self, height: u64) -> Result<()> {
        let what = format!("{} to reach block height {height}", self.name);
        wait_until(&what, self.timeout, |last| {
            if let Some(status) = self.exit_status() {
                bail!("{} died: {status}", self.name);
            }
            let h = self.blockheight()?;
            *last = format!("at height {h}");
            Ok((h >= height).then_some(()))
        })
        .map_err(|e| self.explain(e))
    }
}
