//! The proxy's server side: accepts clients, answers each JSON-RPC call
//! from a mock, the fixed feerates or bitcoind, and records it.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::call::{BitcoindCall, HttpFailure, MockHandler, MockReply};
use super::feerates::Feerates;
use super::jsonrpc::{self, RawObject, Request};
use super::record::{Answer, CallRecord, Recorder};
use super::upstream::{Head, Upstream};

/// What the proxy's tasks share with the [`super::ChainProxy`] handle.
pub(super) struct Shared {
    pub upstream: Upstream,
    pub mocks: RwLock<HashMap<String, Arc<MockHandler>>>,
    pub feerates: RwLock<Option<Feerates>>,
    pub recorder: Recorder,
    /// Whether bitcoind may be asked yet. While the network starts, its
    /// nodes are launched before bitcoind has its wallet and first blocks;
    /// their calls wait here until then, so lightningd's own start-up
    /// overlaps bitcoind's and it still never sees a chain being built.
    pub upstream_ready: watch::Receiver<bool>,
}

impl Shared {
    fn mock_for(&self, method: &str) -> Option<Arc<MockHandler>> {
        let mocks = self.mocks.read().unwrap_or_else(|p| p.into_inner());
        mocks.get(method).cloned()
    }

    fn feerates(&self) -> Option<Feerates> {
        *self.feerates.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accepts clients until `stop` changes (or its sender is dropped), then
/// drops every connection and reports on `done`.
pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    done: std::sync::mpsc::Sender<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| handle(shared.clone(), req));
                        let _ = http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                // E.g. out of file descriptors: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
    let _ = done.send(());
}

/// A service error: hyper closes the connection without answering.
#[derive(Debug)]
struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by the chain proxy")
    }
}

impl std::error::Error for Abort {}

/// How one call (or one whole request) is answered.
enum Outcome {
    Reply {
        status: u16,
        content_type: Option<HeaderValue>,
        body: Bytes,
    },
    Fail(HttpFailure),
}

impl Outcome {
    fn json(status: u16, body: String) -> Self {
        Self::Reply {
            status,
            content_type: Some(HeaderValue::from_static("application/json")),
            body: Bytes::from(body),
        }
    }

    /// A locally made reply to `req`; a 2.0 notification gets none.
    fn local(req: &Request, status: u16, reply: String) -> Self {
        if req.notification {
            return Self::json(204, String::new());
        }
        Self::json(status, reply + "\n")
    }

    fn into_response(self) -> Result<Response<Full<Bytes>>, Abort> {
        match self {
            Outcome::Fail(HttpFailure::CloseConnection) => Err(Abort),
            Outcome::Fail(HttpFailure::Status(code)) => Ok(response(code, None, Bytes::new())),
            Outcome::Reply {
                status,
                content_type,
                body,
            } => Ok(response(status, content_type, body)),
        }
    }
}

fn response(status: u16, content_type: Option<HeaderValue>, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        res.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    res
}

async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Abort> {
    // A closed gate whose sender is gone (bitcoind failed to start) lets
    // calls through: bitcoind's own answer (or refusal) says what is wrong.
    let _ = shared.upstream_ready.clone().wait_for(|ready| *ready).await;
    let (parts, body) = req.into_parts();
    let head = Head {
        path: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string(),
        method: parts.method,
        headers: parts.headers,
    };
    let body = body.collect().await.map_err(|_| Abort)?.to_bytes();
    let parsed: Option<Value> = match head.method {
        Method::POST => serde_json::from_slice(&body).ok(),
        _ => None,
    };
    let outcome = match parsed {
        Some(Value::Array(items)) if !items.is_empty() => {
            batch(&shared, &head, &body, &items).await
        }
        Some(v) => match Request::parse(&v) {
            Some(req) => answer(&shared, &head, body, &req).await,
            None => forward(&shared, &head, body).await,
        },
        // Not JSON-RPC: let bitcoind say what is wrong with it.
        None => forward(&shared, &head, body).await,
    };
    outcome.into_response()
}

/// A batch: each call answered on its own, in order, the replies joined
/// into one array. Any call failing the HTTP request fails all of it.
async fn batch(shared: &Shared, head: &Head, body: &Bytes, items: &[Value]) -> Outcome {
    let Ok(raws) = serde_json::from_slice::<Vec<Box<RawValue>>>(body) else {
        return forward(shared, head, body.clone()).await;
    };
    let mut replies = Vec::new();
    let mut failure = None;
    for (raw, item) in raws.iter().zip(items) {
        let raw = Bytes::copy_from_slice(raw.get().as_bytes());
        let outcome = match Request::parse(item) {
            Some(req) => answer(shared, head, raw, &req).await,
            None => forward(shared, head, raw).await,
        };
        match outcome {
            Outcome::Fail(f) => failure = failure.or(Some(f)),
            Outcome::Reply { body, .. } => {
                let text = String::from_utf8_lossy(&body).trim().to_string();
                if !text.is_empty() {
                    replies.push(text);
                }
            }
        }
    }
    match failure {
        Some(f) => Outcome::Fail(f),
        None => Outcome::json(200, format!("[{}]\n", replies.join(","))),
    }
}

/// Passes a request to bitcoind as it is; closes the client's connection
/// when bitcoind cannot be reached, as if bitcoind itself were down.
async fn forward(shared: &Shared, head: &Head, body: Bytes) -> Outcome {
    match shared.upstream.send(head, body).await {
        Ok(r) => Outcome::Reply {
            status: r.status.as_u16(),
            content_type: r.content_type,
            body: r.body,
        },
        Err(_) => Outcome::Fail(HttpFailure::CloseConnection),
    }
}

/// Answers one call and records it.
async fn answer(shared: &Shared, head: &Head, raw: Bytes, req: &Request) -> Outcome {
    let seq = shared.recorder.next_seq();
    let (at, started) = (SystemTime::now(), Instant::now());
    let call = BitcoindCall {
        method: req.method.clone(),
        params: req.params.clone(),
        id: req.id.clone(),
        wallet: wallet_of(&head.path),
    };
    let (outcome, answer, forwarded_params) = resolve(shared, head, raw, req, &call).await;
    shared.recorder.record(CallRecord {
        seq,
        at,
        took: started.elapsed(),
        method: call.method,
        params: call.params,
        forwarded_params,
        answer,
    });
    outcome
}

/// Mock first, then the fixed feerates, then bitcoind. Returns the
/// outcome, what answered, and the params forwarded instead (if any).
async fn resolve(
    shared: &Shared,
    head: &Head,
    raw: Bytes,
    req: &Request,
    call: &BitcoindCall,
) -> (Outcome, Answer, Option<Value>) {
    let mut reply = match shared.mock_for(&call.method) {
        None => MockReply::Forward,
        Some(handler) => match run_handler(handler, call.clone()).await {
            Ok(reply) => reply,
            Err(panic) => {
                let message = format!(
                    "itest chain proxy: the mock for `{}` panicked: {panic}",
                    call.method
                );
                let body = req.error_reply(-32603, &message);
                let outcome = Outcome::local(req, req.error_status(-32603), body);
                return (outcome, Answer::MockPanicked(panic), None);
            }
        },
    };
    let params = loop {
        match reply {
            MockReply::Result(v) => {
                let raw = RawValue::from_string(v.to_string()).expect("a Value is valid JSON");
                return (local_result(req, &raw), Answer::Mock, None);
            }
            MockReply::RawResult(r) => return (local_result(req, &r), Answer::Mock, None),
            MockReply::Error { code, message } => {
                let outcome =
                    Outcome::local(req, req.error_status(code), req.error_reply(code, &message));
                return (outcome, Answer::MockError { code }, None);
            }
            MockReply::Fail(f) => return (Outcome::Fail(f), Answer::HttpFailure(f), None),
            MockReply::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
            MockReply::Forward => break None,
            MockReply::ForwardWith(p) => break Some(p),
        }
    };
    let feerates = shared.feerates();
    if let (Some(f), "estimatesmartfee") = (feerates, call.method.as_str()) {
        if let Some(result) = f.estimatesmartfee(params.as_ref().unwrap_or(&call.params)) {
            return (local_result(req, &result), Answer::Feerates, params);
        }
    }
    let body = match &params {
        Some(p) => Bytes::from(req.with_params(p)),
        None => raw,
    };
    let reply = match shared.upstream.send(head, body).await {
        Ok(reply) => reply,
        Err(e) => {
            let answer = Answer::Unreachable(format!("{e:#}"));
            return (Outcome::Fail(HttpFailure::CloseConnection), answer, params);
        }
    };
    if let (Some(f), "getmempoolinfo") = (feerates, call.method.as_str()) {
        if let Some(body) = patch_mempoolinfo(&f, &reply.body) {
            let outcome = Outcome::Reply {
                status: reply.status.as_u16(),
                content_type: reply.content_type,
                body,
            };
            return (outcome, Answer::Feerates, params);
        }
    }
    let answer = Answer::Bitcoind {
        error_code: jsonrpc::reply_error_code(&reply.body),
    };
    let outcome = Outcome::Reply {
        status: reply.status.as_u16(),
        content_type: reply.content_type,
        body: reply.body,
    };
    (outcome, answer, params)
}

fn local_result(req: &Request, result: &RawValue) -> Outcome {
    Outcome::local(req, 200, req.result_reply(result))
}

/// bitcoind's successful `getmempoolinfo` reply with the feerate floor
/// written in; `None` (reply passed on as is) for an error reply.
fn patch_mempoolinfo(f: &Feerates, body: &[u8]) -> Option<Bytes> {
    let mut reply: RawObject = serde_json::from_slice(body).ok()?;
    if reply.get("error").is_some_and(|e| e.get() != "null") {
        return None;
    }
    let result = f.patch_mempoolinfo(reply.get("result")?)?;
    reply.set("result", result);
    Some(Bytes::from(reply.to_json() + "\n"))
}

/// Runs a mock handler on a blocking thread (the harness runtime has one
/// worker; a handler may block). `Err` carries a panic's message.
async fn run_handler(handler: Arc<MockHandler>, call: BitcoindCall) -> Result<MockReply, String> {
    let joined = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(AssertUnwindSafe(|| handler(&call)))
    })
    .await;
    match joined {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(payload)) => Err(panic_message(&*payload)),
        Err(e) => Err(e.to_string()),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        return s.to_string();
    }
    if let Some(s) = payload.downcast_ref::<String>() {
        return s.clone();
    }
    "(a non-string panic payload)".to_string()
}

/// The wallet a `/wallet/<name>` path names, percent-decoded.
fn wallet_of(path: &str) -> Option<String> {
    let name = path.strip_prefix("/wallet/")?;
    let name = name.split('?').next().unwrap_or(name);
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_paths_are_decoded() {
        assert_eq!(wallet_of("/"), None);
        assert_eq!(wallet_of("/wallet/itest").as_deref(), Some("itest"));
        assert_eq!(wallet_of("/wallet/a%20b%2").as_deref(), Some("a b%2"));
    }
}
