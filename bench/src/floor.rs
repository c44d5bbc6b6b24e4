//! Section 4's floor: the network the harness builds, started by hand.
//!
//! The same bitcoind options as itest's (`cln_itest::bitcoind_regtest_options`), the same
//! lightningd options (`cln_itest::regtest_options` plus what itest adds
//! per node: directory, alias, port, log, bitcoind, a grpc port), no proxy,
//! each step waited for by polling every millisecond, one step after the
//! other as a person with a shell would (bitcoind ready, then both
//! lightningd at once, then the plugin). The harness's overhead per phase
//! is its own step minus this one.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cln_itest::bitcoincore_rpc::{Auth, Client as BtcClient, RpcApi};
use serde_json::{json, Value};

use crate::rpc::Client;

/// How often the floor polls a daemon: as often as is still cheap.
const POLL: Duration = Duration::from_millis(1);
/// How long any step may take.
const LIMIT: Duration = Duration::from_secs(60);

/// The floor's steps, named as the harness's timeline names its own.
pub const STEPS: &[&str] = &[
    "bitcoind: RPC answers",
    "bitcoind: wallet created",
    "bitcoind: 101 blocks mined",
    "l1, l2: lightningd ready (synced)",
    "l1: plugin started",
];

/// One hand-started network: each step's duration (in [`STEPS`] order),
/// the time to ready and the teardown.
pub struct FloorRun {
    pub steps: Vec<f64>,
    pub ready: f64,
    pub teardown: f64,
}

struct Daemons {
    children: Vec<Child>,
}

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("floor: {what} took over {LIMIT:?}");
        }
        std::thread::sleep(POLL);
    }
}

/// Starts bitcoind and two lightningd by hand in a fresh directory, loads
/// `plugin` on l1 with `foo_opt=BAR`, then stops everything.
pub fn run_once(plugin: &Path) -> Result<FloorRun> {
    let lightningd = std::env::var_os("LIGHTNINGD")
        .map(PathBuf::from)
        .unwrap_or_else(|| "lightningd".into());
    let bitcoind = std::env::var_os("BITCOIND")
        .map(PathBuf::from)
        .unwrap_or_else(|| "bitcoind".into());
    let shared = cln_itest::regtest_options(&lightningd)?;
    let has_grpc = help_mentions(&lightningd, "--grpc-port")?;
    let dir = tempdir()?;
    let mut daemons = Daemons {
        children: Vec::new(),
    };
    let mut steps = Vec::new();
    let t0 = Instant::now();

    // bitcoind, as itest starts it.
    let btc_dir = dir.join("bitcoind");
    std::fs::create_dir_all(&btc_dir)?;
    let rpc_port = free_port()?;
    let mut args = cln_itest::bitcoind_regtest_options(&bitcoind);
    args.extend([
        format!("-datadir={}", btc_dir.display()),
        format!("-rpcport={rpc_port}"),
        "-rpcuser=rpcuser".into(),
        "-rpcpassword=rpcpass".into(),
        "-printtoconsole=0".into(),
        "-rpcbind=127.0.0.1".into(),
        "-rpcallowip=127.0.0.1".into(),
    ]);
    daemons.children.push(
        Command::new(&bitcoind)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning bitcoind")?,
    );
    let btc = BtcClient::new(
        &format!("http://127.0.0.1:{rpc_port}"),
        Auth::UserPass("rpcuser".into(), "rpcpass".into()),
    )?;
    let t = Instant::now();
    poll("bitcoind RPC", || {
        btc.call::<Value>("getblockchaininfo", &[]).ok()
    })?;
    steps.push(t.elapsed().as_secs_f64());
    let t = Instant::now();
    btc.call::<Value>("createwallet", &[json!("floor")])?;
    let address: String = btc.call("getnewaddress", &[])?;
    steps.push(t.elapsed().as_secs_f64());
    let t = Instant::now();
    btc.call::<Value>("generatetoaddress", &[json!(101), json!(address)])?;
    steps.push(t.elapsed().as_secs_f64());

    // Both lightningd at once, each with itest's options.
    let t = Instant::now();
    let mut sockets = Vec::new();
    for name in ["l1", "l2"] {
        let ln_dir = dir.join(name);
        std::fs::create_dir_all(&ln_dir)?;
        let mut args = vec![
            format!("--lightning-dir={}", ln_dir.display()),
            format!("--alias={name}"),
            format!("--addr=127.0.0.1:{}", free_port()?),
            "--log-level=debug".into(),
            format!("--log-file={}", ln_dir.join("log").display()),
            "--bitcoin-rpcuser=rpcuser".into(),
            "--bitcoin-rpcpassword=rpcpass".into(),
            format!("--bitcoin-rpcport={rpc_port}"),
            "--bitcoin-rpcconnect=127.0.0.1".into(),
            format!("--bitcoin-datadir={}", btc_dir.display()),
        ];
        args.extend(shared.iter().cloned());
        if has_grpc {
            args.push(format!("--grpc-port={}", free_port()?));
        }
        daemons.children.push(
            Command::new(&lightningd)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("spawning {name}'s lightningd"))?,
        );
        sockets.push(ln_dir.join("regtest").join("lightning-rpc"));
    }
    for socket in &sockets {
        poll("lightningd synced", || {
            let mut c = Client::connect(socket, "floor").ok()?;
            let info = c.call("getinfo", &json!({})).ok()?;
            let synced = info.get("warning_bitcoind_sync").is_none()
                && info.get("warning_lightningd_sync").is_none()
                && info["blockheight"].as_u64() >= Some(101);
            synced.then_some(())
        })?;
    }
    steps.push(t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut l1 = Client::connect(&sockets[0], "floor")?;
    l1.call(
        "plugin",
        &json!({"subcommand": "start", "plugin": plugin, "foo_opt": "BAR"}),
    )?;
    steps.push(t.elapsed().as_secs_f64());
    let ready = t0.elapsed().as_secs_f64();

    // Teardown as a person would: `stop` each node, then bitcoind.
    let t = Instant::now();
    for socket in &sockets {
        if let Ok(mut c) = Client::connect(socket, "floor") {
            let _ = c.call("stop", &json!({}));
        }
    }
    let _ = btc.call::<Value>("stop", &[]);
    for child in &mut daemons.children {
        let deadline = Instant::now() + LIMIT;
        while child.try_wait()?.is_none() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
    std::fs::remove_dir_all(&dir)?;
    let teardown = t.elapsed().as_secs_f64();
    Ok(FloorRun {
        steps,
        ready,
        teardown,
    })
}

fn help_mentions(lightningd: &Path, option: &str) -> Result<bool> {
    let out = Command::new(lightningd)
        .arg("--help")
        .output()
        .with_context(|| format!("running {} --help", lightningd.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout).contains(option))
}

fn tempdir() -> Result<PathBuf> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("bench-floor-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir(&dir).context("creating the floor's directory")?;
    Ok(dir)
}
