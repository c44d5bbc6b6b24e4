//! One lightningd node.
//!
//! - this file: what a node is (its directory, port, settings, command
//!   line) and what state it is in;
//! - `lifecycle`: starting, waiting, stopping, how it ended;
//! - `bitcoind`: the proxy between it and bitcoind (feerates, mocks);
//! - `calls`: its JSON-RPC, raw, typed, with a limit or in the background;
//! - `plugins`: `plugin start/stop/list`;
//! - `logs`: waiting for and reading its log;
//! - `stderr`: what lightningd printed on stderr;
//! - `fds`: leaked file descriptors, at teardown;
//! - `wrappers`: plugins with an environment of their own, or traced;
//! - `traces`: reading and waiting on traced plugins' traffic;
//! - `db`: where it keeps its wallet (SQLite or PostgreSQL), and reading it.
//!
//! A node keeps its directory, port and identity for the life of its
//! [`Network`](crate::Network), whether it runs or not, so `stop` /
//! `start` / `restart` behave like restarting a real node: same
//! database, same channels, same address.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

mod bitcoind;
pub(crate) mod calls;
mod db;
mod faults;
mod fds;
pub(crate) mod lifecycle;
mod logs;
mod memleak;
pub(crate) mod onchain;
mod plugins;
mod startup_plugins;
mod stderr;
mod traces;
mod wrappers;

use crate::bitcoind::BitcoinD;
use crate::chain_proxy::{ChainProxy, ProxyConf};
use crate::conf::{NodeArg, NodeConf};
use crate::daemon::boundary::{Daemon, ExitStatus, Side};
use crate::daemon::placement::{Listener, Placement, Service};
use crate::error::{Context, Error, FromInternal, Result};
use crate::findings::{Exit, Tolerance};
use crate::lightningd::bin::LightningdBin;
use crate::lightningd::options::shared_options;
use crate::postgres::{DbProvider, PostgresSlot};
use crate::probe::lookup::LIGHTNINGD;
use crate::rpc::client::Rpc;
use crate::timeline::Timeline;
use crate::version::Version;

/// How many log lines an error about a node carries.
const TAIL_LINES: usize = 30;

/// A lightningd node with its own lightning-dir and listening port.
pub struct Node {
    name: String,
    dir: PathBuf,
    /// The settings its next start uses ([`Node::update_conf`]).
    conf: Mutex<NodeConf>,
    /// What its lightningd supports; follows `conf.lightningd`.
    bin: Mutex<LightningdBin>,
    /// [`Conf::lightningd`](crate::Conf::lightningd), for a node whose
    /// own is unset again.
    default_lightningd: Option<PathBuf>,
    default_log_level: String,
    default_stop_timeout: Duration,
    /// [`Conf::cln_schemas`](crate::Conf::cln_schemas), for a node without
    /// its own.
    default_schemas: Option<PathBuf>,
    timeout: Duration,
    libfaketime: Option<PathBuf>,
    bitcoind: Arc<BitcoinD>,
    placement: Placement,
    /// The bitcoin-cli lightningd's bcli plugin runs, where it runs.
    bitcoin_cli: PathBuf,
    rpc: Rpc,
    /// Between lightningd and bitcoind (see [`Node::bitcoind_proxy`]).
    proxy: ChainProxy,
    /// Where `wait_for_log` searches next.
    log: Mutex<logs::NodeLog>,
    /// What teardown lets pass ([`NodeConf::allow_log`], `may_fail`).
    tolerance: Mutex<Tolerance>,
    /// Cursors into traced plugins' traces, plugins started traced.
    traces: Mutex<traces::Traces>,
    // Field order matters for Drop: the process dies before its ports are
    // released.
    running: Mutex<Running>,
    /// Where lightningd listens for peers, the same across restarts.
    peer: Listener,
    /// cln-grpc's port, for releases that start it (reserved when the
    /// binary in use has the option).
    grpc: Mutex<Option<Listener>>,
    /// Where this machine last reached the peer port.
    address: Mutex<Option<(String, u16)>>,
    /// The host lightningd connects to for its bitcoind proxy.
    proxy_host: String,
    /// The network's timeline, where starts and stops are recorded.
    timeline: Arc<Timeline>,
    /// [`Conf::db_provider`](crate::Conf::db_provider).
    default_db_provider: DbProvider,
    /// The network's PostgreSQL server, for PostgreSQL nodes.
    postgres: Arc<PostgresSlot>,
}

#[derive(Debug, Default)]
struct Running {
    daemon: Option<Box<dyn Daemon>>,
    /// How the last lightningd process ended, once it was taken.
    ended: Option<Ended>,
    /// How each stopped lightningd process ended, for the teardown checks.
    exits: Vec<Exit>,
    /// Where this run's output starts in the stderr file.
    stderr_from: u64,
    /// The startup plugins this run must have running (see
    /// `startup_plugins`).
    plugins: Vec<PathBuf>,
    /// The test process's descriptors this run may have inherited (see
    /// `fds`).
    inherited: Vec<fds::HeldFd>,
    /// What the descriptor checks found when a run stopped.
    fd_findings: Vec<crate::findings::Finding>,
}

/// How a taken lightningd process had ended.
#[derive(Debug, Clone)]
struct Ended {
    status: ExitStatus,
    /// It had exited by itself, not cleanly, before anyone stopped or
    /// awaited it.
    died: bool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("version", &self.version())
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
    pub default_lightningd: Option<&'a Path>,
    pub log_level: &'a str,
    pub timeout: Duration,
    pub stop_timeout: Duration,
    pub libfaketime: Option<&'a Path>,
    /// Turns true once bitcoind has its wallet and first blocks; the
    /// node's proxy holds lightningd's calls until then.
    pub upstream_ready: tokio::sync::watch::Receiver<bool>,
    /// Where the node records its steps.
    pub timeline: &'a Arc<Timeline>,
    pub db_provider: DbProvider,
    pub postgres: &'a Arc<PostgresSlot>,
    pub cln_schemas: Option<&'a Path>,
}

/// Locks `m`, also after a panic elsewhere (the data stays consistent:
/// every critical section is a few assignments).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        let peer = env
            .placement
            .listener(Service::Peer, env.placement.side())
            .internal()?;
        let rpc = Rpc::new(&dir.join("regtest").join("lightning-rpc"));
        // Every node talks to bitcoind through its own proxy, so a test
        // can fix feerates or mock a call for one node (pyln-testing's
        // `rpcproxy`). It lives as long as the node, across restarts.
        let (bind, proxy_host) = env.placement.test_process_endpoint().internal()?;
        let proxy = ChainProxy::gated(
            ProxyConf {
                bind,
                feerates: conf.feerates,
                ..ProxyConf::new(env.bitcoind.rpc_addr())
            },
            env.upstream_ready.clone(),
        )
        .internal()
        .map_err(|e| e.context(format!("{name}: starting its bitcoind proxy")))?;
        let tolerance = tolerance(name, &conf, &bin)?;
        schemas_in_use(name, &conf, env.cln_schemas)?;
        let node = Self {
            log: Mutex::new(logs::NodeLog::new(dir.join("log"))),
            tolerance: Mutex::new(tolerance),
            traces: Mutex::default(),
            name: name.to_string(),
            dir: dir.to_path_buf(),
            conf: Mutex::new(conf),
            bin: Mutex::new(bin),
            default_lightningd: env.default_lightningd.map(Path::to_path_buf),
            default_log_level: env.log_level.to_string(),
            default_stop_timeout: env.stop_timeout,
            default_schemas: env.cln_schemas.map(Path::to_path_buf),
            timeout: env.timeout,
            libfaketime: env.libfaketime.map(Path::to_path_buf),
            bitcoind: env.bitcoind.clone(),
            placement: env.placement.clone(),
            bitcoin_cli: env.bitcoin_cli.clone(),
            rpc,
            proxy,
            running: Mutex::default(),
            peer,
            grpc: Mutex::new(None),
            address: Mutex::default(),
            proxy_host,
            timeline: env.timeline.clone(),
            default_db_provider: env.db_provider,
            postgres: env.postgres.clone(),
        };
        node.reserve_grpc_port()?;
        Ok(node)
    }

    /// Newer releases start cln-grpc on a fixed default port, which
    /// collides between parallel nodes: give it one of its own.
    fn reserve_grpc_port(&self) -> Result<()> {
        let wants = lock(&self.bin).has_option("grpc-port");
        let mut grpc = lock(&self.grpc);
        if wants && grpc.is_none() {
            let side = self.placement.side();
            *grpc = Some(self.placement.listener(Service::Grpc, side).internal()?);
        }
        Ok(())
    }

    /// The full lightningd command line (after the program) for `conf`,
    /// with `plugins` the paths to start each of its plugins by (see
    /// `wrappers`).
    fn args(&self, conf: &NodeConf, bin: &LightningdBin, plugins: &[PathBuf]) -> Vec<String> {
        let b = &self.bitcoind;
        let log_level = self.chosen_log_level(conf, bin);
        // In a container that shares no paths, lightningd logs to stdout,
        // which the harness copies to the usual log file.
        let log_file = if self.placement.logs_to_stdout() {
            "-".to_string()
        } else {
            self.log_path().display().to_string()
        };
        let mut args = vec![
            format!("--lightning-dir={}", self.dir.display()),
            format!("--alias={}", self.name),
            format!("--addr={}:{}", self.peer.binds[0], self.peer.port),
            format!("--log-level={log_level}"),
            format!("--log-file={log_file}"),
            format!("--bitcoin-rpcuser={}", b.rpc_user()),
            format!("--bitcoin-rpcpassword={}", b.rpc_password()),
            format!("--bitcoin-rpcport={}", self.proxy.port()),
            format!("--bitcoin-rpcconnect={}", self.proxy_host),
            // A directory without bitcoin.conf, so that no config of this
            // machine's user steers bitcoin-cli.
            format!("--bitcoin-datadir={}", b.datadir().display()),
            format!("--bitcoin-cli={}", self.bitcoin_cli.display()),
        ];
        args.extend(shared_options(bin));
        args.extend(faults::options(conf, bin, &self.dir));
        args.extend(crate::lightningd::pyln_defaults::options(conf, bin));
        if let Some(grpc) = lock(&self.grpc).as_ref() {
            args.push(format!("--grpc-port={}", grpc.port));
        }
        let mut plugin_paths = plugins.iter();
        for arg in &conf.args {
            match arg {
                NodeArg::Option(option) => args.push(option.clone()),
                NodeArg::Plugin(plugin) => {
                    let path = plugin_paths.next().unwrap_or(&plugin.path);
                    args.push(format!("--plugin={}", path.display()));
                    for (name, value) in &plugin.options {
                        args.push(format!("--{name}={value}"));
                    }
                }
            }
        }
        args
    }

    /// The `--log-level` the harness gives lightningd for `conf`: the
    /// node's, else pyln's default if asked for, else the network's.
    fn chosen_log_level<'a>(&'a self, conf: &'a NodeConf, bin: &LightningdBin) -> &'a str {
        let pyln_level = conf
            .pyln_defaults
            .then(|| crate::lightningd::pyln_defaults::log_level(bin));
        conf.log_level
            .as_deref()
            .or(pyln_level)
            .unwrap_or(&self.default_log_level)
    }

    /// The `--log-level` lightningd runs with for `conf`: the harness's,
    /// unless one of the node's options sets another (the last wins).
    fn log_level(&self, conf: &NodeConf, bin: &LightningdBin) -> String {
        conf.options()
            .filter_map(|o| o.strip_prefix("--log-level="))
            .last()
            .unwrap_or(self.chosen_log_level(conf, bin))
            .to_string()
    }

    /// The files of this machine a command line for `conf` names, which a
    /// container that shares no paths gets copies of: startup plugins (as
    /// given, with the `plugins` it starts them by; also those given as
    /// `--plugin=` options), libfaketime and fault files.
    fn inputs(
        &self,
        conf: &NodeConf,
        plugins: &[PathBuf],
        env: &[(std::ffi::OsString, std::ffi::OsString)],
    ) -> Vec<PathBuf> {
        let mut inputs: Vec<PathBuf> = conf.plugins().map(|p| p.path.clone()).collect();
        inputs.extend(plugins.iter().cloned());
        if conf.plugins().any(|p| p.traced) {
            inputs.extend(crate::trace::relay::relay_binary().ok());
        }
        for option in conf.options() {
            for flag in ["--plugin=", "--important-plugin="] {
                if let Some(path) = option.strip_prefix(flag) {
                    inputs.push(PathBuf::from(path));
                }
            }
        }
        if !env.is_empty() {
            inputs.extend(self.libfaketime.clone());
        }
        inputs.extend(faults::files(conf, &self.dir));
        // A path that exists nowhere is lightningd's to report, as it
        // would natively.
        inputs.retain(|p| p.is_absolute() && p.exists());
        inputs.sort();
        inputs.dedup();
        inputs
    }

    /// The limit for this node's waits and for each RPC call
    /// ([`Conf::timeout`](crate::Conf::timeout)).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many of its own seconds this node's lightningd counts per real
    /// second (20 under libfaketime, else 1; see `Conf::libfaketime`).
    pub(crate) fn clock_rate(&self) -> u32 {
        crate::lightningd::options::clock_rate(&lock(&self.bin), self.libfaketime.as_deref())
    }

    /// `l1`, `l2`, ... (also its `--alias`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lightningd process id while it runs locally.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.running).daemon.as_ref().and_then(|d| d.pid())
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
        self.placement
            .reach(&**daemon, self.peer.port, from)
            .internal()
    }

    /// The `--lightning-dir` (network files are in `regtest/`).
    pub fn lightning_dir(&self) -> &Path {
        &self.dir
    }

    /// The release of this node's lightningd.
    pub fn version(&self) -> Version {
        lock(&self.bin).version
    }

    /// This node's lightningd binary (in a container: its name on the
    /// image's PATH).
    pub fn lightningd(&self) -> PathBuf {
        lock(&self.bin).path.clone()
    }

    /// The settings the node's next start uses.
    pub fn conf(&self) -> NodeConf {
        lock(&self.conf).clone()
    }

    /// Changes the node's settings for its next start (options and plugins
    /// in the order given, environment, log level, stop budget, even its
    /// lightningd, e.g. to restart it with a newer release). A running node
    /// keeps running as it was started; [`NodeConf::allow_log`],
    /// [`NodeConf::may_fail`], [`NodeConf::stop_timeout`],
    /// [`NodeConf::check_fds`] and [`NodeConf::cln_schemas`] apply at once.
    /// Fails, changing nothing, when an `allow_log` regex does not compile,
    /// `cln_schemas` holds no schemas or the new lightningd cannot be run.
    ///
    /// ```no_run
    /// # fn f(node: &cln_itest::Node) -> cln_itest::Result<()> {
    /// node.stop()?;
    /// node.update_conf(|conf| {
    ///     conf.remove_option("fee-base");
    ///     conf.push_option("--fee-base=0");
    ///     conf.set_env("MY_PLUGIN_MODE", "strict");
    /// })?;
    /// node.start()?;
    /// # Ok(()) }
    /// ```
    pub fn update_conf(&self, edit: impl FnOnce(&mut NodeConf)) -> Result<()> {
        let mut conf = self.conf();
        let old_lightningd = conf.lightningd.clone();
        edit(&mut conf);
        let mut bin = lock(&self.bin).clone();
        if conf.lightningd != old_lightningd {
            let program = self
                .placement
                .program(
                    LIGHTNINGD,
                    self.default_lightningd.as_deref(),
                    conf.lightningd.as_deref(),
                )
                .map_err(Error::internal)?;
            bin = LightningdBin::inspect(&self.placement, &program)?;
        }
        let tolerance = tolerance(&self.name, &conf, &bin)?;
        schemas_in_use(&self.name, &conf, self.default_schemas.as_deref())?;
        if conf.lightningd != old_lightningd {
            *lock(&self.bin) = bin;
            self.reserve_grpc_port()?;
        }
        *lock(&self.tolerance) = tolerance;
        *lock(&self.conf) = conf;
        Ok(())
    }

    fn stop_timeout(&self) -> Duration {
        lock(&self.conf)
            .stop_timeout
            .unwrap_or(self.default_stop_timeout)
    }
}

/// The CLN schemas `conf`'s replies are checked against, given the
/// network's `default`; refuses a path that holds none, and says once per
/// process when there are none.
fn schemas_in_use(name: &str, conf: &NodeConf, default: Option<&Path>) -> Result<()> {
    match conf.cln_schemas.as_deref().or(default) {
        Some(given) => crate::schemas::check_dir(given).map_err(|why| {
            Error::msg(format!(
                "{name}: Conf::cln_schemas / NodeConf::cln_schemas (ITEST_CLN_SCHEMAS by default): {why}"
            ))
        }),
        None => {
            crate::schemas::note_off();
            Ok(())
        }
    }
}

/// What the teardown lets pass for `conf` on `bin`; refuses fault options
/// `bin` cannot apply.
fn tolerance(name: &str, conf: &NodeConf, bin: &LightningdBin) -> Result<Tolerance> {
    faults::check(name, conf, bin)?;
    memleak::note_if_skipped(name, conf, bin);
    // A plugin allowed to fail may be killed by lightningd too, and so
    // may any plugin of a node whose start is expected to fail.
    let killed = conf
        .plugins()
        .filter(|p| p.may_fail)
        .filter_map(|p| p.path.file_name())
        .map(|f| {
            format!(
                "plugin-{}: Killing plugin: ",
                regex::escape(&f.to_string_lossy())
            )
        })
        .chain(
            conf.expect_fail
                .then(|| "plugin-.*: Killing plugin: ".to_string()),
        );
    let allow_log = conf
        .allow_log
        .iter()
        .cloned()
        .chain(killed)
        .map(|r| regex::Regex::new(&r).with_context(|| format!("{name}: allow_log `{r}`")))
        .collect::<Result<_>>()?;
    Ok(Tolerance {
        allow_log,
        may_fail: conf.may_fail || conf.expect_fail,
        allow_warning: conf.allow_warning,
        allow_bad_gossip: conf.allow_bad_gossip,
        check_reconnects: faults::suppresses_reconnects(conf, bin),
    })
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}
