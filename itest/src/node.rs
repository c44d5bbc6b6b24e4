//! One lightningd node: its command line, lifecycle and RPC.
//!
//! A node keeps its directory, port and identity for the life of its
//! [`Network`](crate::Network), whether it runs or not, so `stop` /
//! `start` / `restart` behave like restarting a real node: same
//! database, same channels, same address.

use std::ffi::OsString;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use cln_rpc::model::TypedRequest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::bitcoind::BitcoinD;
use crate::conf::NodeConf;
use crate::daemon::boundary::{Daemon, DaemonSpec};
use crate::daemon::placement::Placement;
use crate::lightningd_bin::LightningdBin;
use crate::lightningd_options::{clock_env, shared_options};
use crate::log_cursor::LogCursor;
use crate::ports::{self, PortLease};
use crate::rpc::{Rpc, RpcError};
use crate::teardown::{self, Exit, Finding, Tolerance};
use crate::version::Version;
use crate::wait::wait_until;

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

    /// Launches lightningd without waiting; see [`Node::wait_ready`].
    pub(crate) fn launch(&self) -> Result<(), StartError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = &running.daemon {
            if d.exited().is_none() {
                return Err(self.start_error("it is already running".into()));
            }
        }
        // A stale socket from an earlier run must not answer for this one.
        self.rpc.reset();
        let spec = DaemonSpec {
            name: self.name.clone(),
            program: self.bin.path.clone(),
            args: self.args().into_iter().map(OsString::from).collect(),
            dir: self.dir.clone(),
            log: self.log_path(),
            env: clock_env(&self.bin, self.libfaketime.as_deref()),
        };
        let daemon = self
            .placement
            .launch(&spec)
            .map_err(|e| self.start_error(format!("{e:#}")))?;
        running.daemon = Some(daemon);
        Ok(())
    }

    /// Waits until `getinfo` answers with neither `warning_bitcoind_sync`
    /// nor `warning_lightningd_sync`, at bitcoind's current height or
    /// above. On timeout or early exit the node is killed and the error
    /// carries its log tail.
    pub(crate) fn wait_ready(&self) -> Result<(), StartError> {
        let min_height = self
            .bitcoind
            .height()
            .map_err(|e| self.start_error(format!("{e:#}")))?;
        let what = format!(
            "getinfo without sync warnings and blockheight >= {min_height} (limit {}s)",
            self.timeout.as_secs()
        );
        let ready = wait_until(&what, self.timeout, |last| {
            if let Some(status) = self.exit_status() {
                bail!("exited early with {status}");
            }
            let reply = self
                .rpc
                .call_with_timeout("getinfo", json!({}), Duration::from_secs(5));
            match reply {
                Ok(info) => {
                    let warnings: Vec<&str> = ["warning_bitcoind_sync", "warning_lightningd_sync"]
                        .into_iter()
                        .filter(|w| info.get(*w).is_some())
                        .collect();
                    let height = info["blockheight"].as_u64().unwrap_or(0);
                    if warnings.is_empty() && height >= min_height {
                        return Ok(Some(()));
                    }
                    *last = format!("getinfo blockheight {height}, warnings {warnings:?}");
                    Ok(None)
                }
                Err(e) => {
                    *last = e.to_string();
                    Ok(None)
                }
            }
        });
        ready.map_err(|e| {
            let err = self.start_error(format!("{e:#}"));
            self.kill();
            err
        })
    }

    fn start_error(&self, reason: String) -> StartError {
        StartError {
            node: self.name.clone(),
            reason,
            log_tail: self.log_tail(TAIL_LINES),
        }
    }

    /// Starts the node and waits until it is ready (synced with bitcoind).
    /// A node that fails to start is killed and reported with its log
    /// tail; the network stays usable.
    pub fn start(&self) -> Result<(), StartError> {
        self.launch()?;
        self.wait_ready()
    }

    /// Stops the node: the `stop` RPC, a short wait, then SIGKILL for
    /// whatever is left (plugins included). Keeps its directory, so
    /// [`Node::start`] brings back the same node with its channels.
    /// Stopping a stopped node does nothing.
    pub fn stop(&self) -> Result<()> {
        let daemon = self.take_daemon();
        if let Some(daemon) = daemon {
            if daemon.exited().is_none() {
                let _ = self
                    .rpc
                    .call_with_timeout("stop", json!({}), Duration::from_secs(5));
                daemon.wait_exit(Duration::from_secs(10));
            }
            let exit = daemon.exited().map_or(Exit::KilledAfterStop, Exit::Exited);
            daemon.kill(Duration::from_secs(1));
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.exits.push(exit);
        }
        self.rpc.reset();
        Ok(())
    }

    /// [`Node::stop`] then [`Node::start`].
    pub fn restart(&self) -> Result<(), StartError> {
        self.stop()
            .map_err(|e| self.start_error(format!("stopping: {e:#}")))?;
        self.start()
    }

    /// Whether lightningd is running (started and not exited).
    pub fn is_running(&self) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .daemon
            .as_ref()
            .is_some_and(|d| d.exited().is_none())
    }

    /// How lightningd exited, if it was started and is no longer running
    /// (and was not stopped through [`Node::stop`]): a node that died.
    pub fn exit_status(&self) -> Option<String> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .daemon
            .as_ref()
            .and_then(|d| d.exited())
            .map(|e| e.how)
    }

    /// The running daemon, if any, now owned by the caller: whoever takes
    /// it stops it, so a concurrent stop or kill finds nothing to do.
    fn take_daemon(&self) -> Option<Box<dyn Daemon>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .daemon
            .take()
    }

    /// Kills the node without a graceful stop (teardown and failed starts).
    pub(crate) fn kill(&self) {
        let daemon = self.take_daemon();
        if let Some(daemon) = daemon {
            daemon.kill(Duration::from_secs(1));
        }
    }

    /// Graceful teardown (network drop): `stop` RPC, short wait, kill.
    pub(crate) fn shutdown(&self) {
        let _ = self.stop();
    }

    /// Waits until a line logged after the previous match (or since the
    /// start) matches `regex`, and returns it. Later waits start after it.
    /// On timeout, or if the node dies, the error names the regex and
    /// quotes the log tail.
    pub fn wait_for_log(&self, regex: &str) -> Result<String> {
        Ok(self.wait_for_logs(&[regex])?.remove(0))
    }

    /// Waits until each regex has matched its own line after the previous
    /// match, in any order, one line never serving two regexes. Returns
    /// the lines in the order of `regexes`; later waits start after the
    /// last of them.
    pub fn wait_for_logs(&self, regexes: &[&str]) -> Result<Vec<String>> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.wait_for_logs_while(regexes, self.timeout, || match self.exit_status() {
            Some(status) => bail!("{} died: {status}", self.name),
            None => Ok(()),
        })
        .with_context(|| format!("{}: waiting for its log", self.name))
    }

    /// The first line anywhere in the log matching `regex`, if any. Does
    /// not move where `wait_for_log` searches.
    pub fn is_in_log(&self, regex: &str) -> Result<Option<String>> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.is_in_log(regex)
    }

    /// The limit for this node's waits and for each RPC call
    /// ([`Conf::timeout`](crate::Conf::timeout)).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Why this node fails its teardown checks; empty if it passes. Call
    /// after the node was stopped, so every exit is known.
    pub(crate) fn teardown_findings(&self) -> Result<Vec<Finding>> {
        let exits = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .exits
            .clone();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let evidence = teardown::Evidence {
            log: log.lines()?,
            dirs: vec![self.dir.clone(), self.dir.join("regtest")],
            exits: &exits,
        };
        Ok(teardown::check(&evidence, &self.tolerance))
    }

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

    /// `plugin start` with the plugin's options as named parameters (values
    /// sent as JSON strings; lightningd parses them with the option's type).
    pub fn plugin_start(
        &self,
        path: impl AsRef<Path>,
        options: &[(&str, &str)],
    ) -> Result<Value, RpcError> {
        self.check_visible(path.as_ref())?;
        let mut params = Map::new();
        params.insert("subcommand".into(), json!("start"));
        params.insert("plugin".into(), json!(path.as_ref()));
        for (name, value) in options {
            params.insert((*name).to_string(), json!(value));
        }
        self.call("plugin", Value::Object(params))
    }

    /// A plugin lightningd cannot see where it runs would fail with a bare
    /// "No such file"; say why instead.
    fn check_visible(&self, path: &Path) -> Result<(), RpcError> {
        self.placement
            .check_visible(path, &self.name)
            .map_err(RpcError::transport)
    }

    /// `plugin stop <name>`: `name` is the plugin's file name or full path.
    pub fn plugin_stop(&self, name: &str) -> Result<Value, RpcError> {
        self.call("plugin", json!({"subcommand": "stop", "plugin": name}))
    }

    /// `plugin list`.
    pub fn plugin_list(&self) -> Result<Value, RpcError> {
        self.call("plugin", json!({"subcommand": "list"}))
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

    /// lightningd's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The last `n` lines of its log, stderr and stdout.
    pub fn log_tail(&self, n: usize) -> String {
        crate::logs::labelled_tails(
            &self.name,
            &[
                self.log_path(),
                self.dir.join(format!("{}.stderr", self.name)),
                self.dir.join(format!("{}.stdout", self.name)),
            ],
            n,
        )
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
