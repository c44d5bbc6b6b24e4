//! One lightningd node.
//!
//! - this file: what a node is (its directory, port, command line);
//! - `lifecycle`: starting, stopping, how it ended;
//! - `calls`: its JSON-RPC, raw and typed;
//! - `plugins`: `plugin start/stop/list`;
//! - `logs`: waiting for and reading its log.
//!
//! A node keeps its directory, port and identity for the life of its
//! [`Network`](crate::Network), whether it runs or not, so `stop` /
//! `start` / `restart` behave like restarting a real node: same
//! database, same channels, same address.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod calls;
mod faults;
mod lifecycle;
mod logs;
mod memleak;
mod plugins;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::bitcoind::BitcoinD;
use crate::conf::NodeConf;
use crate::daemon::boundary::Daemon;
use crate::daemon::placement::Placement;
use crate::findings::{Exit, Tolerance};
use crate::lightningd::bin::LightningdBin;
use crate::lightningd::options::shared_options;
use crate::ports::{self, PortLease};
use crate::rpc::Rpc;
use crate::version::Version;

/// How many log lines an error about a node carries.
const TAIL_LINES: usize = 30;

/// A node that did not come up: why, and the end of its logs. A test that
/// expects a startup to fail (a plugin that must refuse to start) asserts
/// on this instead of failing.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{node} did not start: {reason}\n{log_tail}")]
pub struct StartError {
    /// The node's name (`l1`, ...).
    pub node: String,
    /// What went wrong (e.g. "exited early with exit status: 1").
    pub reason: String,
    /// The last lines of its log, stderr and stdout.
    pub log_tail: String,
}

/// A lightningd node with its own lightning-dir and listening port.
pub struct Node {
    name: String,
    dir: PathBuf,
    conf: NodeConf,
    bin: LightningdBin,
    log_level: String,
    timeout: Duration,
    libfaketime: Option<PathBuf>,
    bitcoind: Arc<BitcoinD>,
    placement: Placement,
    /// The bitcoin-cli lightningd's bcli plugin runs, where it runs.
    bitcoin_cli: PathBuf,
    rpc: Rpc,
    /// Where `wait_for_log` searches next.
    log: Mutex<logs::NodeLog>,
    /// What teardown lets pass ([`NodeConf::allow_log`], `may_fail`).
    tolerance: Tolerance,
    /// Whether teardown asks `dev-memleak` ([`NodeConf::check_memleak`]).
    memleak: bool,
    // Field order matters for Drop: the process dies before its ports are
    // released.
    running: Mutex<Running>,
    port: PortLease,
    _grpc_port: Option<PortLease>,
}

#[derive(Debug, Default)]
struct Running {
    daemon: Option<Box<dyn Daemon>>,
    /// How each stopped lightningd process ended, for the teardown checks.
    exits: Vec<Exit>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("version", &self.bin.version)
            .field("pid", &self.pid())
            .field("port", &self.port.port())
            .field("lightning_dir", &self.dir)
            .finish()
    }
}

/// What a node needs from its network.
pub(crate) struct NodeEnv<'a> {
    pub bitcoind: &'a Arc<BitcoinD>,
    /// Where it runs.
    pub placement: Placement,
    /// The bitcoin-cli lightningd runs there.
    pub bitcoin_cli: PathBuf,
    pub log_level: &'a str,
    pub timeout: Duration,
    pub libfaketime: Option<&'a Path>,
}

impl Node {
    /// Prepares the node (directory, ports); does not start it.
    pub(crate) fn new(
        name: &str,
        dir: &Path,
        conf: NodeConf,
        bin: LightningdBin,
        env: &NodeEnv<'_>,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = ports::reserve()?;
        // Newer releases start cln-grpc on a fixed default port, which
        // collides between parallel nodes.
        let grpc_port = if bin.has_option("grpc-port") {
            Some(ports::reserve()?)
        } else {
            None
        };
        let rpc = Rpc::new(&dir.join("regtest").join("lightning-rpc"), env.timeout);
        let allow_log = conf
            .allow_log
            .iter()
            .map(|r| regex::Regex::new(r).with_context(|| format!("{name}: allow_log `{r}`")))
            .collect::<Result<_>>()?;
        faults::check(name, &conf, &bin)?;
        let tolerance = Tolerance {
            allow_log,
            may_fail: conf.may_fail,
            allow_warning: conf.allow_warning,
            allow_bad_gossip: conf.allow_bad_gossip,
            check_reconnects: faults::suppresses_reconnects(&conf, &bin),
        };
        let memleak = memleak::enabled(name, &conf, &bin);
        Ok(Self {
            log: Mutex::new(logs::NodeLog::new(dir.join("log"))),
            tolerance,
            memleak,
            name: name.to_string(),
            dir: dir.to_path_buf(),
            log_level: conf
                .log_level
                .clone()
                .unwrap_or_else(|| env.log_level.to_string()),
            conf,
            bin,
            timeout: env.timeout,
            libfaketime: env.libfaketime.map(Path::to_path_buf),
            bitcoind: env.bitcoind.clone(),
            placement: env.placement.clone(),
            bitcoin_cli: env.bitcoin_cli.clone(),
            rpc,
            running: Mutex::default(),
            port,
            _grpc_port: grpc_port,
        })
    }

    /// The full lightningd command line (after the program).
    fn args(&self) -> Vec<String> {
        let b = &self.bitcoind;
        let mut args = vec![
            format!("--lightning-dir={}", self.dir.display()),
            format!("--alias={}", self.name),
            format!("--addr=127.0.0.1:{}", self.port.port()),
            format!("--log-level={}", self.log_level),
            format!("--log-file={}", self.log_path().display()),
            format!("--bitcoin-rpcuser={}", b.rpc_user()),
            format!("--bitcoin-rpcpassword={}", b.rpc_password()),
            format!("--bitcoin-rpcport={}", b.rpc_port()),
            "--bitcoin-rpcconnect=127.0.0.1".into(),
            format!("--bitcoin-datadir={}", b.datadir().display()),
            format!("--bitcoin-cli={}", self.bitcoin_cli.display()),
        ];
        args.extend(shared_options(&self.bin));
        args.extend(self.fault_options());
        if let Some(grpc) = &self._grpc_port {
            args.push(format!("--grpc-port={}", grpc.port()));
        }
        for plugin in &self.conf.plugins {
            args.push(format!("--plugin={}", plugin.path.display()));
            for (name, value) in &plugin.options {
                args.push(format!("--{name}={value}"));
            }
        }
        args.extend(self.conf.options.iter().cloned());
        args
    }

    /// The limit for this node's waits and for each RPC call
    /// ([`Conf::timeout`](crate::Conf::timeout)).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many of its own seconds this node's lightningd counts per real
    /// second (20 under libfaketime, else 1; see `Conf::libfaketime`).
    pub(crate) fn clock_rate(&self) -> u32 {
        crate::lightningd::options::clock_rate(&self.bin, self.libfaketime.as_deref())
    }

    /// `l1`, `l2`, ... (also its `--alias`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lightningd process id while it runs locally.
    pub fn pid(&self) -> Option<u32> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.daemon.as_ref().and_then(|d| d.pid())
    }

    /// The port lightningd listens on for peers (127.0.0.1); the same
    /// across restarts.
    pub fn port(&self) -> u16 {
        self.port.port()
    }

    /// The `--lightning-dir` (network files are in `regtest/`).
    pub fn lightning_dir(&self) -> &Path {
        &self.dir
    }

    /// The release of this node's lightningd.
    pub fn version(&self) -> Version {
        self.bin.version
    }

    /// This node's lightningd binary.
    pub fn lightningd(&self) -> &Path {
        &self.bin.path
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}
