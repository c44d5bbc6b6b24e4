//! The proxy's client side: HTTP/1.1 to the real bitcoind, over a few
//! kept-alive connections.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An idle connection older than this is not reused: bitcoind closes
/// idle connections after `-rpcservertimeout` (30 s by default), and a
/// request sent as it closes would be lost. Well below that, so reuse is
/// safe without retrying (a retried `sendrawtransaction` would not be).
const MAX_IDLE: Duration = Duration::from_secs(5);
/// Idle connections kept (bcli runs at most 4 bitcoin-cli per priority).
const POOL: usize = 8;

/// bitcoind's answer, as received.
pub(super) struct Reply {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// What the client's request carried that bitcoind needs to see.
#[derive(Clone)]
pub(super) struct Head {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
}

pub(super) struct Upstream {
    addr: String,
    idle: std::sync::Mutex<Vec<(Instant, SendRequest<Full<Bytes>>)>>,
}

impl Upstream {
    pub fn new(addr: String) -> Self {
        Self {
            addr,
            idle: Default::default(),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `body` with the client's method, path and headers (auth
    /// included) and returns bitcoind's reply.
    pub async fn send(&self, head: &Head, body: Bytes) -> Result<Reply> {
        let mut sender = match self.take_idle() {
            Some(s) => s,
            None => self.connect().await?,
        };
        let mut req = Request::builder()
            .method(head.method.clone())
            .uri(&head.path)
            .body(Full::new(body))
            .context("building the request to bitcoind")?;
        for (name, value) in &head.headers {
            if !is_hop_by_hop(name) {
                req.headers_mut().append(name, value.clone());
            }
        }
        req.headers_mut().insert(
            header::HOST,
            HeaderValue::from_str(&self.addr).context("bitcoind address as a Host header")?,
        );
        let res = sender
            .send_request(req)
            .await
            .with_context(|| format!("sending to bitcoind at {}", self.addr))?;
        let status = res.status();
        let content_type = res.headers().get(header::CONTENT_TYPE).cloned();
        let closes = res
            .headers()
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let body = res
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading bitcoind's reply from {}", self.addr))?
            .to_bytes();
        if !closes {
            self.put_idle(sender);
        }
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .with_context(|| format!("connecting to bitcoind at {}", self.addr))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP handshake with bitcoind at {}", self.addr))?;
        // Ends when bitcoind closes or the sender is dropped.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((since, sender)) = idle.pop() {
            if since.elapsed() < MAX_IDLE && sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < POOL {
            idle.push((Instant::now(), sender));
        }
    }
}

/// Headers that describe the client's connection, not the request.
fn is_hop_by_hop(name: &header::HeaderName) -> bool {
    [
        header::CONNECTION,
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::TE,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
    ]
    .contains(name)
        || name.as_str().eq_ignore_ascii_case("keep-alive")
}
