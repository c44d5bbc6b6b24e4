//! A scriptable JSON-RPC proxy between lightningd and bitcoind.
//!
//! lightningd's bcli plugin runs `bitcoin-cli` for every chain query. Point
//! that bitcoin-cli at a [`ChainProxy`] instead of bitcoind
//! (`--bitcoin-rpcport=<proxy port>`) and a test can:
//! - fix the feerates (on by default, [`Feerates`]), so fee-dependent
//!   assertions are deterministic, and change them mid-test;
//! - answer, delay, alter or fail any method ([`ChainProxy::mock`]); a
//!   handler may mock some params only and forward the rest;
//! - see every call lightningd made, count them, and wait for one
//!   ([`ChainProxy::wait_for_calls`]).
//!
//! Everything not mocked reaches the real bitcoind unchanged (bytes, HTTP
//! status, auth), so the mock only changes what the test names. It runs on
//! the harness's own runtime, so it works from sync code and from inside
//! any async test, and stops when dropped.
//!
//! ```no_run
//! use cln_itest::{ChainProxy, Feerates, MockReply};
//! use serde_json::json;
//!
//! let proxy = ChainProxy::start("127.0.0.1:18443").unwrap();
//! // lightningd: --bitcoin-rpcport={proxy.port()}
//! proxy.set_feerates(Some(Feerates::uniform(5_000)));
//! proxy.mock("getblockhash", |call| match call.param(0) {
//!     Some(h) if h == &json!(1_000) => MockReply::error(-8, "Block height out of range"),
//!     _ => MockReply::Forward,
//! });
//! proxy.wait_for_calls("estimatesmartfee", 4, std::time::Duration::from_secs(30)).unwrap();
//! ```

mod call;
mod feerates;
mod jsonrpc;
mod record;
mod server;
#[cfg(test)]
mod tests;
mod upstream;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::error::FromInternal;
use tokio::sync::watch;

pub use call::{BitcoindCall, HttpFailure, MockHandler, MockReply};
pub use feerates::Feerates;
pub use record::{Answer, CallRecord, DEFAULT_RECORD_LIMIT};

use crate::ports::{self, PortLease};
use server::Shared;
use upstream::Upstream;

/// How a [`ChainProxy`] starts; [`ProxyConf::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ProxyConf {
    /// bitcoind's RPC address, `host:port`.
    pub upstream: String,
    /// Where to listen: 127.0.0.1 by default; an address containers can
    /// reach (the Docker bridge's, or 0.0.0.0) when lightningd runs in one.
    pub bind: IpAddr,
    /// The port to listen on; `None` reserves a free one (see
    /// [`ChainProxy::port`]).
    pub port: Option<u16>,
    /// The feerates answered from the start; `None` passes fee calls to
    /// bitcoind (regtest then has no estimates).
    pub feerates: Option<Feerates>,
    /// How many calls are kept in full ([`ChainProxy::calls`]); counts
    /// are exact whatever this is.
    pub record_limit: usize,
}

impl ProxyConf {
    /// Proxy to `upstream` (`host:port`) on 127.0.0.1, with fixed
    /// [`Feerates::default`] and the last [`DEFAULT_RECORD_LIMIT`] calls kept.
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: None,
            feerates: Some(Feerates::default()),
            record_limit: DEFAULT_RECORD_LIMIT,
        }
    }
}

/// A running proxy in front of one bitcoind. Dropping it stops it.
pub struct ChainProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    /// Reports that the server task ended (a `Mutex` keeps the proxy `Sync`).
    done: Mutex<std::sync::mpsc::Receiver<()>>,
    /// Keeps other harness processes off the port while it is ours.
    _lease: Option<PortLease>,
}

impl std::fmt::Debug for ChainProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream.addr())
            .field("feerates", &self.feerates())
            .finish()
    }
}

impl ChainProxy {
    /// Starts a proxy to bitcoind at `upstream` (`host:port`) with
    /// [`ProxyConf::new`]'s defaults.
    pub fn start(upstream: impl Into<String>) -> crate::Result<Self> {
        Self::with_conf(ProxyConf::new(upstream))
    }

    /// Starts a proxy as `conf` says. It is listening when this returns.
    pub fn with_conf(conf: ProxyConf) -> crate::Result<Self> {
        Self::listen(conf, watch::channel(true).1).internal()
    }

    /// Starts a proxy that holds every call until `upstream_ready` turns
    /// true (or its sender is dropped), so lightningd can be launched
    /// while bitcoind is still starting.
    pub(crate) fn gated(conf: ProxyConf, upstream_ready: watch::Receiver<bool>) -> Result<Self> {
        Self::listen(conf, upstream_ready)
    }

    fn listen(conf: ProxyConf, upstream_ready: watch::Receiver<bool>) -> Result<Self> {
        let (listener, lease) = bind(conf.bind, conf.port)?;
        let addr = listener.local_addr().context("the proxy's address")?;
        let listener = {
            let _guard = crate::runtime::handle().enter();
            tokio::net::TcpListener::from_std(listener).context("registering the proxy socket")?
        };
        let shared = Arc::new(Shared {
            upstream: Upstream::new(conf.upstream),
            mocks: RwLock::default(),
            feerates: RwLock::new(conf.feerates),
            recorder: record::Recorder::new(conf.record_limit),
            upstream_ready,
        });
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = std::sync::mpsc::channel();
        crate::runtime::handle().spawn(server::serve(listener, shared.clone(), stop_rx, done_tx));
        Ok(Self {
            shared,
            addr,
            stop,
            done: Mutex::new(done),
            _lease: lease,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on (lightningd's `--bitcoin-rpcport`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// bitcoind's address, as given.
    pub fn upstream(&self) -> &str {
        self.shared.upstream.addr()
    }

    /// Answers `method` with `handler` from now on (replacing any earlier
    /// mock for it). The handler runs on a blocking thread for each call;
    /// [`MockReply::Forward`] lets a call through.
    pub fn mock(
        &self,
        method: impl Into<String>,
        handler: impl Fn(&BitcoindCall) -> MockReply + Send + Sync + 'static,
    ) {
        let mut mocks = self.shared.mocks.write().unwrap_or_else(|p| p.into_inner());
        mocks.insert(method.into(), Arc::new(handler));
    }

    /// Answers every call to `method` with `result`.
    pub fn mock_result(&self, method: impl Into<String>, result: serde_json::Value) {
        self.mock(method, move |_| MockReply::Result(result.clone()));
    }

    /// Removes `method`'s mock; returns whether there was one.
    pub fn unmock(&self, method: &str) -> bool {
        let mut mocks = self.shared.mocks.write().unwrap_or_else(|p| p.into_inner());
        mocks.remove(method).is_some()
    }

    /// Removes every mock (the feerates stay as they are).
    pub fn clear_mocks(&self) {
        let mut mocks = self.shared.mocks.write().unwrap_or_else(|p| p.into_inner());
        mocks.clear();
    }

    /// Sets the fixed feerates (`None`: bitcoind's own estimates). Applies
    /// to the next call; lightningd polls fees every 30 s (or its
    /// `--dev-bitcoind-poll`) and smooths what it reads, so a change shows
    /// in its feerates only after its next poll(s).
    pub fn set_feerates(&self, feerates: Option<Feerates>) {
        *self
            .shared
            .feerates
            .write()
            .unwrap_or_else(|p| p.into_inner()) = feerates;
    }

    /// The fixed feerates in force, if any.
    pub fn feerates(&self) -> Option<Feerates> {
        *self
            .shared
            .feerates
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The recorded calls, oldest first (the last
    /// [`ProxyConf::record_limit`] since the start or the last reset).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.recorder.calls()
    }

    /// The recorded calls to `method`, oldest first.
    pub fn calls_to(&self, method: &str) -> Vec<CallRecord> {
        let mut calls = self.calls();
        calls.retain(|c| c.method == method);
        calls
    }

    /// How many times `method` was called (exact, however many calls the
    /// record keeps).
    pub fn count(&self, method: &str) -> u64 {
        self.shared.recorder.count(method)
    }

    /// The exact count of every method called.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.recorder.counts()
    }

    /// Forgets the record and the counts (e.g. after start-up, to count
    /// only what a test step causes).
    pub fn reset_record(&self) {
        self.shared.recorder.reset();
    }

    /// Waits until `method` has been called `n` times in all (since the
    /// start or the last reset) and returns the count. Fails after
    /// `timeout`, quoting every count and the last calls seen.
    pub fn wait_for_calls(&self, method: &str, n: u64, timeout: Duration) -> crate::Result<u64> {
        self.shared
            .recorder
            .wait_for(method, n, timeout)
            .with_context(|| format!("chain proxy on {} to {}", self.addr, self.upstream()))
            .internal()
    }
}

impl Drop for ChainProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // Wait until the socket is closed, unless this runs on the
        // harness runtime's own thread, which must do that work.
        // (Its threads are named in `runtime::handle`.)
        let on_runtime = std::thread::current().name() == Some("itest-rpc");
        if !on_runtime {
            let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            let _ = done.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// Binds the listening socket. Without a fixed port, the port comes from
/// [`ports::reserve`], so no daemon of a parallel test is handed it.
fn bind(ip: IpAddr, port: Option<u16>) -> Result<(std::net::TcpListener, Option<PortLease>)> {
    let bound = |port: u16| -> Result<std::net::TcpListener> {
        let l = std::net::TcpListener::bind(SocketAddr::new(ip, port))
            .with_context(|| format!("binding the chain proxy to {ip}:{port}"))?;
        l.set_nonblocking(true)
            .context("making the proxy socket non-blocking")?;
        Ok(l)
    };
    if let Some(port) = port {
        return Ok((bound(port)?, None));
    }
    let mut last = None;
    // The lease probes 127.0.0.1; another address may still be taken.
    for _ in 0..10 {
        let lease = ports::reserve()?;
        match bound(lease.port()) {
            Ok(l) => return Ok((l, Some(lease))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("tried at least once"))
}
