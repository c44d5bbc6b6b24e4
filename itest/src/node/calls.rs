//! A node's JSON-RPC: raw calls, typed calls, calls with their own limit
//! or in the background, and the helpers built on them.
//!
//! Every call has a connection of its own while it runs (`crate::rpc`), so
//! calls from several threads, or a background call and a foreground one,
//! never wait for each other.

use std::fmt::Debug;
use std::path::Path;
use std::time::Duration;

use cln_rpc::model::TypedRequest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::{Node, TAIL_LINES};
use crate::error::{Context, Died, Error, ErrorKind, NoReply, Result, RpcError, SchemaViolation};
use crate::node::lifecycle::NodeState;
use crate::rpc::client::InFlight;
use crate::rpc::CallError;
use crate::schemas::Failure;
use crate::wait::wait_until;

/// A call running in the background ([`Node::spawn_call`]), like
/// pyln-testing's `executor.submit(...)`; collect it with
/// [`PendingCall::wait`]. Dropping it does not cancel the call.
pub struct PendingCall<'a> {
    node: &'a Node,
    method: String,
    params: Value,
    call: InFlight,
}

impl std::fmt::Debug for PendingCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCall")
            .field("node", &self.node.name())
            .field("method", &self.method)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl PendingCall<'_> {
    /// Whether the call has finished (answered, failed or timed out), so
    /// that [`PendingCall::wait`] returns at once.
    pub fn is_finished(&self) -> bool {
        self.call.is_done()
    }

    /// Waits for the call to finish and returns what
    /// [`Node::call`] would have returned.
    pub fn wait(self) -> Result<Value> {
        let result = self.call.wait();
        match result {
            Ok(reply) => self.node.checked_reply(&self.method, self.params, reply),
            Err(e) => Err(self.node.call_error(&self.method, self.params, e)),
        }
    }

    /// The method called.
    pub fn method(&self) -> &str {
        &self.method
    }
}

impl Node {
    /// Adds the node's state, dir and log tail to an error (unless it
    /// already carries them).
    pub fn explain(&self, err: Error) -> Error {
        let own = err.node() == Some(self.name());
        if own && matches!(err.kind(), ErrorKind::Start(_) | ErrorKind::Died(_)) {
            return err;
        }
        err.note(format!(
            "{} is {}; lightning-dir: {}\n{}",
            self.name,
            self.state(),
            self.dir.display(),
            self.log_tail(TAIL_LINES)
        ))
    }

    /// Calls `method` with `params` (array or object, sent unchanged) and
    /// returns lightningd's result. An error reply comes back exactly as
    /// lightningd sent it ([`Error::rpc`], [`Error::rpc_code`]); a node
    /// that died says so, with its log tail. Waits at most
    /// [`Conf::timeout`](crate::Conf::timeout) for the reply. With
    /// [`Conf::cln_schemas`](crate::Conf::cln_schemas), a reply that
    /// violates the method's schema fails the call
    /// ([`Error::schema_violation`]).
    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.call_with_timeout(method, params, self.timeout)
    }

    /// [`Node::call`] waiting at most `limit` for the reply (a
    /// `waitinvoice`, a plugin whose `init` lightningd allows 120 s).
    pub fn call_with_timeout(&self, method: &str, params: Value, limit: Duration) -> Result<Value> {
        let shown = params.clone();
        match self.rpc.call(method, params, limit) {
            Ok(reply) => self.checked_reply(method, shown, reply),
            Err(e) => Err(self.call_error(method, shown, e)),
        }
    }

    /// `reply` if it fits the method's CLN schema, or if none is checked
    /// (see `crate::schemas`); else the error that says where it does not.
    fn checked_reply(&self, method: &str, params: Value, reply: Value) -> Result<Value> {
        let given = super::lock(&self.conf).cln_schemas.clone();
        let Some(given) = given.or_else(|| self.default_schemas.clone()) else {
            return Ok(reply);
        };
        match crate::schemas::check(&given, method, &reply) {
            Ok(()) => Ok(reply),
            Err(Failure::Violated { file, violations }) => Err(Error::schema(SchemaViolation {
                node: self.name.clone(),
                method: method.to_string(),
                params,
                schema: file,
                lightningd: self.version().to_string(),
                violations,
                reply,
            })),
            Err(Failure::Unusable(why)) => Err(Error::msg(format!(
                "{}: the reply to `{method}` cannot be checked: {why} \
                 (Conf::cln_schemas, ITEST_CLN_SCHEMAS by default)",
                self.name
            ))),
        }
    }

    /// Starts `method` in the background and returns at once; collect the
    /// result with [`PendingCall::wait`]. Meanwhile other calls on this
    /// node go on as usual. The limit is
    /// [`Conf::timeout`](crate::Conf::timeout).
    ///
    /// ```no_run
    /// # fn f(net: &cln_itest::Network) -> cln_itest::Result<()> {
    /// use serde_json::json;
    /// let l1 = net.node(0);
    /// let height = l1.blockheight()?;
    /// let waiting = l1.spawn_call("waitblockheight", json!({"blockheight": height + 1}));
    /// net.mine(1)?;
    /// assert_eq!(waiting.wait()?["blockheight"], json!(height + 1));
    /// # Ok(()) }
    /// ```
    pub fn spawn_call(&self, method: &str, params: Value) -> PendingCall<'_> {
        self.spawn_call_with_timeout(method, params, self.timeout)
    }

    /// [`Node::spawn_call`] with its own limit.
    pub fn spawn_call_with_timeout(
        &self,
        method: &str,
        params: Value,
        limit: Duration,
    ) -> PendingCall<'_> {
        PendingCall {
            node: self,
            method: method.to_string(),
            call: self.rpc.spawn(method, params.clone(), limit),
            params,
        }
    }

    /// A typed call with `cln-rpc`'s request and response models:
    /// `node.call_typed(GetinfoRequest {})?.id`.
    pub fn call_typed<R>(&self, request: R) -> Result<R::Response>
    where
        R: TypedRequest + Serialize + Debug,
        R::Response: DeserializeOwned + Debug,
    {
        self.call_typed_with_timeout(request, self.timeout)
    }

    /// [`Node::call_typed`] waiting at most `limit` for the reply.
    pub fn call_typed_with_timeout<R>(&self, request: R, limit: Duration) -> Result<R::Response>
    where
        R: TypedRequest + Serialize + Debug,
        R::Response: DeserializeOwned + Debug,
    {
        let method = request.method().to_string();
        let params = serde_json::to_value(&request)
            .with_context(|| format!("{}: serializing {request:?}", self.name))?;
        let reply = self.call_with_timeout(&method, params, limit)?;
        serde_json::from_value(reply.clone()).with_context(|| {
            format!(
                "{}: the reply to `{method}` does not fit cln-rpc's {} (lightningd {}): {reply}",
                self.name,
                std::any::type_name::<R::Response>(),
                self.version()
            )
        })
    }

    /// The error for a failed call: lightningd's reply as it sent it, or,
    /// when there was none, whether the node died.
    pub(crate) fn call_error(&self, method: &str, params: Value, err: CallError) -> Error {
        if let CallError::Reply {
            code,
            message,
            data,
        } = err
        {
            return Error::rpc_reply(RpcError {
                node: self.name.clone(),
                method: method.to_string(),
                params,
                code,
                message,
                data,
            });
        }
        if let Some(died) = self.died_during(&format!("`{method}`")) {
            return died;
        }
        match err {
            CallError::Timeout(limit) => Error::timeout(
                format!("a reply to `{method}` {params} from {}", self.name),
                limit,
                None,
                "the limit is Conf::timeout, ITEST_TIMEOUT by default; for one call, Node::call_with_timeout",
            ),
            CallError::NoReply(reason) => {
                let state = self.state();
                let hint = match state {
                    NodeState::Running => "",
                    _ => "a call needs a running node: Node::start",
                };
                Error::no_reply(NoReply {
                    node: self.name.clone(),
                    method: method.to_string(),
                    reason,
                    state: format!("{} is {state}", self.name),
                    hint: hint.into(),
                })
            }
            CallError::Reply { .. } => unreachable!("handled above"),
        }
    }

    /// An error saying the node died, if it did, during `during`.
    pub(crate) fn died_during(&self, during: &str) -> Option<Error> {
        let status = self.died()?;
        Some(Error::died_node(Died {
            node: self.name.clone(),
            status,
            during: during.to_string(),
            log_tail: format!(
                "log {}\n{}",
                self.log_path().display(),
                self.log_tail(TAIL_LINES)
            ),
        }))
    }

    /// An async `cln-rpc` client on this node's socket, for use inside your
    /// own tokio runtime (`#[tokio::test]`).
    pub async fn cln_rpc(&self) -> Result<cln_rpc::ClnRpc> {
        crate::rpc::connect::cln_rpc(self.socket_path())
            .await
            .map_err(|e| {
                Error::msg(format!(
                    "{}: connecting to {}: {e:#}",
                    self.name,
                    self.socket_path().display()
                ))
            })
    }

    /// The RPC socket (`<lightning-dir>/regtest/lightning-rpc`).
    pub fn socket_path(&self) -> &Path {
        self.rpc.socket_path()
    }

    /// This node's public key, from `getinfo`.
    pub fn id(&self) -> Result<String> {
        let info = self.call("getinfo", json!({}))?;
        info["id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("{}: getinfo has no string `id`: {info}", self.name))
    }

    /// The block height lightningd has processed.
    pub fn blockheight(&self) -> Result<u64> {
        let info = self.call("getinfo", json!({}))?;
        info["blockheight"].as_u64().with_context(|| {
            format!(
                "{}: getinfo has no numeric `blockheight`: {info}",
                self.name
            )
        })
    }

    /// Waits until lightningd has processed block `height`.
    pub fn wait_blockheight(&self, height: u64) -> Result<()> {
        let what = format!("{} to reach block height {height}", self.name);
        wait_until(&what, self.timeout, |last| {
            if let Some(died) = self.died_during(&format!("waiting for block {height}")) {
                return Err(died);
            }
            let h = self.blockheight()?;
            *last = format!("at height {h}");
            Ok((h >= height).then_some(()))
        })
        .map_err(|e| self.explain(e))
    }
}
