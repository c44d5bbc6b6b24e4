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
mod lifecycle;
mod logs;
mod plugins;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::bitcoind::BitcoinD;
use crate::conf::NodeConf;
use crate::daemon::boundary::{Daemon, Side};
use crate::daemon::placement::{Listener, Placement, Service};
use crate::findings::{Exit, Tolerance};
use crate::lightningd::bin::LightningdBin;
use crate::lightningd::options::shared_options;
use crate::logs::cursor::LogCursor;
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
    log: Mutex<LogCursor>,
    /// What teardown lets pass ([`NodeConf::allow_log`], `may_fail`).
    tolerance: Tolerance,
    // Field order matters for Drop: the process dies before its ports are
    // released.
    running: Mutex<Running>,
    peer: Listener,
    grpc: Option<Listener>,
    /// Where this machine last reached the peer port.
    address: Mutex<Option<(String, u16)>>,
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
            .field("port", &self.port())
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
        // Its peers run where it runs.
        let peers = env.placement.side();
        let peer = env.placement.listener(Service::Peer, peers)?;
        // Newer releases start cln-grpc on a fixed default port, which
        // collides between parallel nodes.
        let grpc = if bin.has_option("grpc-port") {
            Some(env.placement.listener(Service::Grpc, peers)?)
        } else {
            None
        };
        let rpc = Rpc::new(&dir.join("regtest").join("lightning-rpc"), env.timeout);
        let allow_log = conf
            .allow_log
            .iter()
            .map(|r| regex::Regex::new(r).with_context(|| format!("{name}: allow_log `{r}`")))
            .collect::<Result<_>>()?;
        let tolerance = Tolerance {
            allow_log,
            may_fail: conf.may_fail,
        };
        Ok(Self {
            log: Mutex::new(LogCursor::new(dir.join("log"))),
            tolerance,
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
            peer,
            grpc,
            address: Mutex::default(),
        })
    }

    /// The full lightningd command line (after the program).
    fn args(&self) -> Result<Vec<String>> {
        let b = &self.bitcoind;
        let (rpc_host, rpc_port) = b.rpc_address_for(self.placement.side())?;
        let log_file = if self.placement.logs_to_stdout() {
            "-".to_string()
        } else {
            self.log_path().display().to_string()
        };
        let mut args = vec![
            format!("--lightning-dir={}", self.dir.display()),
            format!("--alias={}", self.name),
            format!("--addr={}:{}", self.peer.binds[0], self.peer.port),
            format!("--log-level={}", self.log_level),
            format!("--log-file={log_file}"),
            format!("--bitcoin-rpcuser={}", b.rpc_user()),
            format!("--bitcoin-rpcpassword={}", b.rpc_password()),
            format!("--bitcoin-rpcport={rpc_port}"),
            format!("--bitcoin-rpcconnect={rpc_host}"),
            // A directory without bitcoin.conf, so that no config of this
            // machine's user steers bitcoin-cli.
            format!("--bitcoin-datadir={}", b.datadir().display()),
            format!("--bitcoin-cli={}", self.bitcoin_cli.display()),
        ];
        args.extend(shared_options(&self.bin));
        if let Some(grpc) = &self.grpc {
            args.push(format!("--grpc-port={}", grpc.port));
        }
        for plugin in &self.conf.plugins {
            args.push(format!("--plugin={}", plugin.path.display()));
            for (name, value) in &plugin.options {
                args.push(format!("--{name}={value}"));
            }
        }
        args.extend(self.conf.options.iter().cloned());
        Ok(args)
    }

    /// The files of this machine its command line names, which a
    /// container that shares no paths gets copies of: startup plugins
    /// (also those given as `--plugin=` options) and libfaketime.
    fn inputs(&self, env: &[(std::ffi::OsString, std::ffi::OsString)]) -> Vec<PathBuf> {
        let mut inputs: Vec<PathBuf> = self.conf.plugins.iter().map(|p| p.path.clone()).collect();
        for option in &self.conf.options {
            for flag in ["--plugin=", "--important-plugin="] {
                if let Some(path) = option.strip_prefix(flag) {
                    inputs.push(PathBuf::from(path));
                }
            }
        }
        if !env.is_empty() {
            inputs.extend(self.libfaketime.clone());
        }
        inputs.retain(|p| p.is_absolute());
        inputs
    }

    /// The limit for this node's waits and for each RPC call
    /// ([`Conf::timeout`](crate::Conf::timeout)).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
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

    /// The port this machine reaches lightningd's peer port at, on
    /// [`Node::host`]; the same across restarts. In a container that
    /// shares no network with this machine (`DockerMode::Isolated`) it is
    /// where the engine publishes it, known once the node has started.
    pub fn port(&self) -> u16 {
        self.address_here().map_or(self.peer.port, |(_, port)| port)
    }

    /// The address this machine reaches lightningd's peer port at:
    /// `127.0.0.1`, except in a container that shares no network with
    /// this machine, whose ports the engine publishes on its host's
    /// address.
    pub fn host(&self) -> String {
        self.address_here()
            .map_or_else(|| "127.0.0.1".to_string(), |(host, _)| host)
    }

    fn address_here(&self) -> Option<(String, u16)> {
        self.address
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Where `peer` connects to reach this node, as `(host, port)`.
    pub(crate) fn address_for(&self, peer: &Node) -> Result<(String, u16)> {
        self.reach(peer.placement.side())
    }

    /// Where a client on `from` reaches the running node's peer port.
    fn reach(&self, from: Side) -> Result<(String, u16)> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let daemon = running
            .daemon
            .as_ref()
            .with_context(|| format!("{} is not running", self.name))?;
        self.placement.reach(&**daemon, self.peer.port, from)
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
