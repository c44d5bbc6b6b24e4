//! Configuration in code, with environment variables only as defaults.
//!
//! Modelled on corepc's `bitcoind::Conf`: public fields, a `Default` that
//! reads the environment once, and nothing else read from the environment
//! later. Both structs are `#[non_exhaustive]`, so start from
//! `Conf::default()` / `NodeConf::default()` and change fields.

use std::path::PathBuf;
use std::time::Duration;

use crate::probe::backend::{Backend, DockerMode, BITCOIND_BACKEND_VAR, LIGHTNINGD_BACKEND_VAR};
use crate::probe::images::{
    self, BITCOIND_IMAGE_VAR, DEFAULT_BITCOIND_IMAGE, DEFAULT_LIGHTNINGD_IMAGE,
    LIGHTNINGD_IMAGE_VAR,
};

/// Network-wide settings for [`Network::with_conf`](crate::Network::with_conf).
///
/// ```
/// use std::time::Duration;
/// use cln_itest::{Conf, NodeConf};
///
/// let mut conf = Conf::default();
/// conf.timeout = Duration::from_secs(120);
/// conf.nodes = vec![NodeConf::default(), NodeConf::default().with_option("--log-level=io")];
/// assert_eq!(conf.nodes.len(), 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Conf {
    /// The nodes to create, in order (`l1`, `l2`, ...). Default: two nodes.
    /// Empty for a bitcoind-only network, which needs no lightningd.
    pub nodes: Vec<NodeConf>,
    /// lightningd for nodes without their own. Default: `LIGHTNINGD`, else
    /// the first `lightningd` on `PATH`.
    pub lightningd: Option<PathBuf>,
    /// Default: `BITCOIND`, else `PATH`.
    pub bitcoind: Option<PathBuf>,
    /// Default: `BITCOIN_CLI`, else `PATH`.
    pub bitcoin_cli: Option<PathBuf>,
    /// Extra bitcoind arguments (e.g. `-blockmaxweight=...`).
    pub bitcoind_args: Vec<String>,
    /// bitcoind's RPC credentials (lightningd gets them too).
    pub rpc_user: String,
    /// See [`Conf::rpc_user`].
    pub rpc_password: String,
    /// Blocks mined at start. The default, 101, makes the first coinbase
    /// spendable.
    pub initial_blocks: u64,
    /// Limit for every readiness wait and every `wait_*` helper, and for
    /// each RPC call. Default: `ITEST_TIMEOUT` seconds, else 60.
    pub timeout: Duration,
    /// Where the network's temp dir is created. Default: the system temp
    /// dir (`TMPDIR`). Keep it short: lightningd's RPC socket path must fit
    /// in ~100 bytes.
    pub tmp_root: Option<PathBuf>,
    /// Keep the network's directory even when the test passed. Default:
    /// `ITEST_KEEP=1`. A failed test always keeps it.
    pub keep_dirs: bool,
    /// lightningd `--log-level` for nodes that set none. Default `debug`.
    pub log_level: String,
    /// What [`Network::fund_channel`](crate::Network::fund_channel) adds
    /// to the channel amount when funding the opener's wallet, for fees and
    /// the reserve. Default 1 000 000 sat.
    pub funding_margin_sat: u64,
    /// Confirmations [`Network::fund_channel`](crate::Network::fund_channel)
    /// mines after `fundchannel`. Default 6.
    pub channel_confirmations: u64,
    /// Size of each channel [`Network::line_graph`](crate::Network::line_graph)
    /// opens. Default 1 000 000 sat, as pyln-testing's `line_graph`.
    pub channel_sat: u64,
    /// libfaketime, for lightningd release builds older than v23.11. They
    /// lack `--dev-bitcoind-poll` and look for new blocks every 30 s, so
    /// every `mine()` could wait up to 30 s. With libfaketime, such a
    /// lightningd, and everything it starts (subdaemons, plugins,
    /// bitcoin-cli), runs its clock 20x fast: it polls every 1.5 s. Default: `ITEST_LIBFAKETIME`
    /// (a path, or `off`), else the first of the usual install paths that
    /// exists (Debian's `faketime` package); `None` leaves old releases at
    /// 30 s.
    pub libfaketime: Option<PathBuf>,
    /// Where bitcoind runs. Default: `ITEST_BITCOIND_BACKEND`, else
    /// `ITEST_BACKEND` (`native` or `docker`), else native.
    pub bitcoind_backend: Backend,
    /// Where every lightningd runs. Default: `ITEST_LIGHTNINGD_BACKEND`,
    /// else `ITEST_BACKEND`, else native.
    pub lightningd_backend: Backend,
    /// bitcoind's image on the docker backend, `name:tag`; any image with
    /// `bitcoind` on its PATH. Default: `ITEST_BITCOIND_IMAGE`, else a
    /// Bitcoin Core release image.
    pub bitcoind_image: String,
    /// lightningd's image on the docker backend, `name:tag`; any image with
    /// `lightningd` and `bitcoin-cli` on its PATH (the version is read from
    /// it). Default: `ITEST_LIGHTNINGD_IMAGE`, else Core Lightning's
    /// release image.
    pub lightningd_image: String,
    /// How containers reach this machine and it them (the docker backend
    /// only): [`DockerMode::Host`] shares this machine's network and paths
    /// (Linux, an engine on this machine), [`DockerMode::Isolated`] shares
    /// nothing (any engine), [`DockerMode::Auto`] picks `Host` where it
    /// can. Default: `ITEST_DOCKER_MODE` (`auto`, `host`, `isolated`), else
    /// `Auto`.
    pub docker_mode: DockerMode,
    /// Host paths that containers see, at the same absolute paths
    /// ([`DockerMode::Host`]; an isolated container gets copies of the
    /// files it needs instead). Bind
    /// mounts are fixed when a container starts, so a plugin started later
    /// with `plugin start` must lie under one of them (or under the temp
    /// root, or next to a plugin in [`NodeConf::plugins`], which are always
    /// mounted). Default: the cargo target dir of the running test binary
    /// and the directory of the package under test (`CARGO_MANIFEST_DIR`,
    /// which `cargo test` sets), where test fixtures live.
    pub container_mounts: Vec<PathBuf>,
}

impl Default for Conf {
    fn default() -> Self {
        Self {
            nodes: vec![NodeConf::default(), NodeConf::default()],
            lightningd: env_path("LIGHTNINGD"),
            bitcoind: env_path("BITCOIND"),
            bitcoin_cli: env_path("BITCOIN_CLI"),
            bitcoind_args: Vec::new(),
            rpc_user: "itest".into(),
            rpc_password: "itest".into(),
            initial_blocks: 101,
            timeout: env_timeout(),
            tmp_root: None,
            keep_dirs: std::env::var("ITEST_KEEP").is_ok_and(|v| v == "1"),
            log_level: "debug".into(),
            funding_margin_sat: 1_000_000,
            channel_confirmations: 6,
            channel_sat: 1_000_000,
            libfaketime: match env_path("ITEST_LIBFAKETIME") {
                Some(off) if off.as_os_str() == "off" => None,
                Some(path) => Some(path),
                None => find_libfaketime(),
            },
            bitcoind_backend: env_backend(BITCOIND_BACKEND_VAR),
            lightningd_backend: env_backend(LIGHTNINGD_BACKEND_VAR),
            bitcoind_image: images::from_env(BITCOIND_IMAGE_VAR, DEFAULT_BITCOIND_IMAGE),
            lightningd_image: images::from_env(LIGHTNINGD_IMAGE_VAR, DEFAULT_LIGHTNINGD_IMAGE),
            docker_mode: DockerMode::from_env().unwrap_or_else(|e| panic!("itest: {e}")),
            container_mounts: test_target_dir()
                .into_iter()
                .chain(env_path("CARGO_MANIFEST_DIR"))
                .collect(),
        }
    }
}

impl Conf {
    /// The defaults with `n` default nodes.
    pub fn with_nodes(n: usize) -> Self {
        Self {
            nodes: vec![NodeConf::default(); n],
            ..Self::default()
        }
    }

    /// Adds `option` (e.g. `--plugin=/abs/path`) to every node.
    pub fn with_node_option(mut self, option: impl Into<String>) -> Self {
        let option = option.into();
        for node in &mut self.nodes {
            node.options.push(option.clone());
        }
        self
    }
}

/// Settings for one lightningd node.
///
/// ```
/// use cln_itest::NodeConf;
///
/// let node = NodeConf::default()
///     .with_lightningd("/opt/cln/v23.02.2/bin/lightningd")
///     .with_plugin("/abs/path/to/my-plugin", [("my-opt", "42")])
///     .with_option("--log-level=io")
///     .not_started();
/// assert!(!node.start);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConf {
    /// This node's lightningd; `None` uses [`Conf::lightningd`]. Lets an old
    /// release run beside a new one.
    pub lightningd: Option<PathBuf>,
    /// Extra lightningd options, e.g. `--fee-base=0`. They come after the
    /// harness's own, so where lightningd lets the last one win, they win.
    pub options: Vec<String>,
    /// Plugins loaded at startup (`--plugin=` plus their options).
    pub plugins: Vec<PluginConf>,
    /// Start the node while the network is built (default). If false,
    /// its directory and port are prepared and
    /// [`Node::start`](crate::Node::start) starts it later.
    pub start: bool,
    /// `--log-level`; `None` uses [`Conf::log_level`].
    pub log_level: Option<String>,
    /// Regexes for log lines this node may write without failing the test
    /// at teardown: `**BROKEN**` lines and plugins killed by lightningd
    /// (pyln-testing's `broken_log`). See [`Network`](crate::Network).
    pub allow_log: Vec<String>,
    /// The node may crash or exit non-zero without failing the test
    /// (pyln-testing's `may_fail`). Its log lines are still checked.
    pub may_fail: bool,
}

impl Default for NodeConf {
    fn default() -> Self {
        Self {
            lightningd: None,
            options: Vec::new(),
            plugins: Vec::new(),
            start: true,
            log_level: None,
            allow_log: Vec::new(),
            may_fail: false,
        }
    }
}

impl NodeConf {
    /// Uses the lightningd at `path` for this node.
    pub fn with_lightningd(mut self, path: impl Into<PathBuf>) -> Self {
        self.lightningd = Some(path.into());
        self
    }

    /// Adds a lightningd option such as `--alias=bob` or `--disable-plugin=x`.
    pub fn with_option(mut self, option: impl Into<String>) -> Self {
        self.options.push(option.into());
        self
    }

    /// Loads the plugin at `path` at startup with these options
    /// (`--name=value` each).
    pub fn with_plugin<N, V>(
        mut self,
        path: impl Into<PathBuf>,
        options: impl IntoIterator<Item = (N, V)>,
    ) -> Self
    where
        N: Into<String>,
        V: Into<String>,
    {
        self.plugins.push(PluginConf {
            path: path.into(),
            options: options
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        });
        self
    }

    /// Leaves the node stopped when the network is built.
    pub fn not_started(mut self) -> Self {
        self.start = false;
        self
    }

    /// Lets this node log lines matching `regex` (a `**BROKEN**` line, a
    /// plugin killed by lightningd) without failing the test at teardown.
    pub fn allow_log(mut self, regex: impl Into<String>) -> Self {
        self.allow_log.push(regex.into());
        self
    }

    /// Lets this node crash or exit non-zero without failing the test at
    /// teardown (its log is still checked).
    pub fn may_fail(mut self) -> Self {
        self.may_fail = true;
        self
    }
}

/// A plugin loaded at node startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConf {
    /// Absolute path of the plugin executable.
    pub path: PathBuf,
    /// Its options as `(name, value)`, passed as `--name=value`.
    pub options: Vec<(String, String)>,
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The backend `var` (or `ITEST_BACKEND`) asks for. A misspelt value
/// panics: silently running natively would hide it.
fn env_backend(var: &str) -> Backend {
    Backend::from_env(var).unwrap_or_else(|e| panic!("itest: {e}"))
}

/// The cargo target dir the running test binary was built into
/// (`<target>/<profile>/deps/<test>`), where the plugin under test usually
/// is too.
fn test_target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(PathBuf::from))?
}

/// Where distributions install libfaketime.
fn find_libfaketime() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// `ITEST_TIMEOUT` seconds, default 60.
fn env_timeout() -> Duration {
    let secs = std::env::var("ITEST_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(60);
    Duration::from_secs(secs)
}
