//! Configuration in code, with environment variables only as defaults.
//!
//! Modelled on corepc's `bitcoind::Conf`: public fields, a `Default` that
//! reads the environment once, and nothing else read from the environment
//! later. Both structs are `#[non_exhaustive]`, so start from
//! `Conf::default()` / `NodeConf::default()` and change fields.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::chain_proxy::Feerates;
use crate::daemon::native::guard::OrphanGuard;
use crate::postgres::provider::DbProvider;
use crate::probe::backend::{Backend, Daemon, DockerMode, BITCOIND_DAEMON, LIGHTNINGD_DAEMON};
use crate::probe::images::{
    self, BITCOIND_IMAGE_VAR, DEFAULT_BITCOIND_IMAGE, DEFAULT_LIGHTNINGD_IMAGE,
    LIGHTNINGD_IMAGE_VAR,
};
use crate::probe::postgres::BINDIR_VAR;

/// The default [`Conf::stop_timeout`]: lightningd waits up to 30 s for
/// plugins subscribed to `shutdown` to exit, then stops its subdaemons and
/// closes its database; a node that takes longer than twice that is stuck.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// The bitcoin-cli lightningd's bcli runs, for native nodes. Default:
    /// `BITCOIN_CLI`, else itest's stand-in (`shim/bitcoin_cli.rs`, which
    /// starts twice as fast and answers the same), else `PATH`'s. A bare
    /// name is looked up on `PATH`: `bitcoin-cli` gives the real one.
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
    /// How long stopping a node (the `stop` RPC, then its exit) may take
    /// before it is killed, for every node without its own
    /// [`NodeConf::stop_timeout`]. Default: [`DEFAULT_STOP_TIMEOUT`], twice
    /// the 30 s lightningd itself gives plugins subscribed to `shutdown`.
    pub stop_timeout: Duration,
    /// Where the network's temp dir is created. Default: the system temp
    /// dir (`TMPDIR`). Any length works: lightningd binds its RPC socket
    /// relative to its lightning-dir, and the harness reaches a socket
    /// whose path is longer than `sun_path` allows through a shorter name
    /// (`rpc/connect.rs`). Other programs you point at the socket may not.
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
    /// `ITEST_BACKEND` (`native` or `docker`); with neither set, natively
    /// if `bitcoind` is found here, else in a container if a Docker engine
    /// answers with the image (said once on stderr), else natively (and
    /// the tests needing it skip, naming what is missing).
    pub bitcoind_backend: Backend,
    /// Where every lightningd runs. Default: `ITEST_LIGHTNINGD_BACKEND`,
    /// else `ITEST_BACKEND`, else chosen as [`Conf::bitcoind_backend`] is.
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
    /// How native daemons die with the test process when it is killed
    /// without running `Drop` (SIGKILL). Default: `ITEST_ORPHAN_GUARD`
    /// (`parent-death-signal` or `supervisor`), else
    /// [`OrphanGuard::platform_default`]: Linux's parent death signal on
    /// Linux, a supervisor shell per daemon elsewhere. A misspelt value
    /// panics.
    pub orphan_guard: OrphanGuard,
    /// Where nodes without their own [`NodeConf::db_provider`] keep their
    /// wallet (pyln-testing's `db_provider`). Default: `ITEST_DB_PROVIDER`
    /// (`sqlite3` or `postgres`, as pyln's `TEST_DB_PROVIDER`), else
    /// [`DbProvider::Sqlite`]. A misspelt value panics.
    pub db_provider: DbProvider,
    /// The directory of PostgreSQL's `initdb` and `postgres`, for
    /// PostgreSQL nodes. Default: `ITEST_POSTGRES_BINDIR`; `None` looks on
    /// `PATH`, then in `pg_config --bindir`, `/usr/lib/postgresql/<newest
    /// major>/bin` (Debian's package puts them there, off `PATH`) and
    /// `/usr/pgsql-<newest major>/bin`.
    pub postgres_bin_dir: Option<PathBuf>,
    /// Where CLN's JSON schemas are, to check every reply of
    /// [`Node::call`](crate::Node::call) (and `call_typed`, `spawn_call`)
    /// against its method's schema, as pyln-testing does: a CLN source
    /// tree of the release under test, or its `doc/schemas` (either
    /// layout: v23.08's `<method>.json` or the older
    /// `<method>.schema.json`). A reply that violates its schema fails the
    /// call ([`ErrorKind::Schema`](crate::ErrorKind::Schema)); methods
    /// without a schema are not checked. Default: `ITEST_CLN_SCHEMAS`;
    /// `None` checks nothing, which the harness says once per process on
    /// stderr. A node can have its own ([`NodeConf::cln_schemas`]).
    pub cln_schemas: Option<PathBuf>,
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
            stop_timeout: DEFAULT_STOP_TIMEOUT,
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
            bitcoind_backend: chosen_backend(&BITCOIND_DAEMON),
            lightningd_backend: chosen_backend(&LIGHTNINGD_DAEMON),
            bitcoind_image: images::from_env(BITCOIND_IMAGE_VAR, DEFAULT_BITCOIND_IMAGE),
            lightningd_image: images::from_env(LIGHTNINGD_IMAGE_VAR, DEFAULT_LIGHTNINGD_IMAGE),
            docker_mode: DockerMode::from_env().unwrap_or_else(|e| panic!("itest: {e}")),
            container_mounts: test_target_dir()
                .into_iter()
                .chain(env_path("CARGO_MANIFEST_DIR"))
                .collect(),
            orphan_guard: OrphanGuard::from_env().unwrap_or_else(|e| panic!("itest: {e}")),
            db_provider: DbProvider::from_env().unwrap_or_else(|e| panic!("itest: {e}")),
            postgres_bin_dir: env_path(BINDIR_VAR),
            cln_schemas: env_path("ITEST_CLN_SCHEMAS"),
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

    /// The defaults with these nodes, in order (pyln-testing's
    /// `get_node(options=..)` for one, `get_nodes` with per-node options
    /// for several): `Conf::from_nodes([NodeConf::default().may_fail()])`.
    pub fn from_nodes(nodes: impl IntoIterator<Item = NodeConf>) -> Self {
        Self {
            nodes: nodes.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Adds `option` (e.g. `--plugin=/abs/path`) to every node.
    pub fn with_node_option(mut self, option: impl Into<String>) -> Self {
        let option = option.into();
        for node in &mut self.nodes {
            node.push_option(option.clone());
        }
        self
    }

    /// Gives every node pyln-testing's defaults
    /// ([`NodeConf::pyln_defaults`]), as upstream's `node_factory` does:
    /// `Conf::with_nodes(2).with_pyln_defaults()`.
    pub fn with_pyln_defaults(mut self) -> Self {
        for node in &mut self.nodes {
            node.pyln_defaults = true;
        }
        self
    }

    /// Keeps the wallet of every node without its own
    /// [`NodeConf::db_provider`] in `provider`:
    /// `Conf::with_nodes(2).with_db_provider(DbProvider::Postgres)`
    /// (pyln-testing's `TEST_DB_PROVIDER=postgres`).
    pub fn with_db_provider(mut self, provider: DbProvider) -> Self {
        self.db_provider = provider;
        self
    }

    /// Checks every node's replies against the JSON schemas under `path`
    /// (a CLN source tree, or its `doc/schemas`); see [`Conf::cln_schemas`].
    pub fn with_cln_schemas(mut self, path: impl Into<PathBuf>) -> Self {
        self.cln_schemas = Some(path.into());
        self
    }

    /// Sets an environment variable for every node (lightningd and its
    /// plugins), e.g. pyln-testing's
    /// `CLN_PLUGIN_LOG=cln_plugin=trace,cln_rpc=trace,debug` for plugins
    /// written with the `cln-plugin` crate.
    pub fn with_node_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        for node in &mut self.nodes {
            node.set_env(name.clone(), value.clone());
        }
        self
    }
}

/// Settings for one lightningd node.
///
/// Options and startup plugins go on lightningd's command line in the
/// order they were added ([`NodeConf::args`]), after the harness's own
/// options. A node's settings can change between its starts
/// ([`Node::update_conf`](crate::Node::update_conf)).
///
/// ```
/// use cln_itest::{NodeConf, PluginConf};
///
/// let node = NodeConf::default()
///     .with_lightningd("/opt/cln/v23.02.2/bin/lightningd")
///     .with_option("--log-level=io")
///     .with_plugin("/abs/path/to/my-plugin", [("my-opt", "42")])
///     .with_plugin_conf(PluginConf::new("/abs/path/to/other").with_env("MODE", "strict"))
///     .with_env("CLN_PLUGIN_LOG", "debug")
///     .not_started();
/// assert!(!node.start);
/// assert_eq!(node.options().collect::<Vec<_>>(), ["--log-level=io"]);
/// assert_eq!(node.plugins().count(), 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConf {
    /// This node's lightningd; `None` uses [`Conf::lightningd`]. Lets an old
    /// release run beside a new one, or a node restart with a newer one.
    pub lightningd: Option<PathBuf>,
    /// lightningd options (`--fee-base=0`) and startup plugins, in the
    /// order given on its command line. They come after the harness's own
    /// options, so where lightningd lets the last one win, they win.
    pub args: Vec<NodeArg>,
    /// Environment variables for lightningd, which passes them on to every
    /// plugin it starts (upstream test plugins read their behaviour from
    /// the environment; pyln-testing sets `CLN_PLUGIN_LOG` this way). The
    /// rest of the environment is inherited (natively) or the image's (in
    /// a container).
    pub env: Vec<(String, String)>,
    /// Start the node while the network is built (default). If false,
    /// its directory and port are prepared and
    /// [`Node::start`](crate::Node::start) starts it later.
    pub start: bool,
    /// `--log-level`; `None` uses [`Conf::log_level`].
    pub log_level: Option<String>,
    /// Regexes for log lines this node may write without failing the test
    /// at teardown, whichever check the line would fail: `**BROKEN**`,
    /// plugins killed by lightningd, `That's weird`, ... (pyln-testing's
    /// `broken_log`). See [`Network`](crate::Network).
    pub allow_log: Vec<String>,
    /// The node may crash or exit non-zero without failing the test
    /// (pyln-testing's `may_fail`). Its log lines are still checked.
    pub may_fail: bool,
    /// The node's start is expected to fail (pyln-testing's
    /// `expect_fail`): when it does, [`Network::with_conf`] and
    /// [`Network::add_node`] still succeed, with the node stopped (its
    /// [`Node::exit_status`], [`Node::stderr`] and log tell how it ended),
    /// and a test that passes leaves no directory behind. Its exit and
    /// its plugins killed by lightningd are no teardown findings (as with
    /// [`NodeConf::may_fail`]); its startup plugins are still checked,
    /// since one that is not running is a way for the start to fail.
    ///
    /// [`Network::with_conf`]: crate::Network::with_conf
    /// [`Network::add_node`]: crate::Network::add_node
    /// [`Node::exit_status`]: crate::Node::exit_status
    /// [`Node::stderr`]: crate::Node::stderr
    pub expect_fail: bool,
    /// The feerates the node's bitcoind proxy answers lightningd's fee
    /// estimates with ([`Node::bitcoind_proxy`](crate::Node::bitcoind_proxy)).
    /// Default: [`Feerates::default`] (pyln-testing's: 15000, 11000, 7500
    /// and 3750 sat per 1000 weight for 2, 6, 12 and 100 blocks), so
    /// fee-dependent results are the same in every run; `None` passes
    /// the estimates through to bitcoind, which on regtest has none.
    pub feerates: Option<Feerates>,
    /// The node may reconnect to its channel peers by itself
    /// (pyln-testing's `may_reconnect`). Default false: as pyln-testing
    /// does, the node gets `--dev-no-reconnect` where its lightningd has
    /// it (v23.11 and later, and developer builds), so a peer that
    /// disconnects, or restarts, stays disconnected until the test
    /// connects it, and a `Peer has reconnected` line fails the teardown.
    /// Release builds before v23.11 lack the option and always reconnect;
    /// there the check is skipped, as pyln does.
    pub may_reconnect: bool,
    /// ` WARNING:` log lines do not fail the teardown (pyln-testing's
    /// `allow_warning`).
    pub allow_warning: bool,
    /// Bad gossip log lines do not fail the teardown (pyln-testing's
    /// `allow_bad_gossip`).
    pub allow_bad_gossip: bool,
    /// `--dev-disconnect` rules, one per entry (pyln-testing's
    /// `disconnect`): a sign, then a message name, then optionally `*N`
    /// for its N-th occurrence. `-WIRE_REVOKE_AND_ACK` disconnects before
    /// sending it, `+` after sending, `<` after receiving it, `$` drops it,
    /// `0` swallows everything from then on, `x` stops using the
    /// connection after sending it without closing it, `=` only uses the
    /// rule up (lightningd's `common/dev_disconnect.h`; v23.02 lacks `<`
    /// and `$`). Each rule fires once, in order. A last rule `permfail`
    /// is read by lightningd itself: at the next reconnection or
    /// transient channel error it fails the channel permanently (logging
    /// `dev_disconnect permfail`) and goes on chain, as upstream's
    /// closing tests use it (`["-WIRE_REVOKE_AND_ACK", "permfail"]`).
    /// lightningd reads no rule after `permfail`, so one there is refused.
    /// They are
    /// written to `<lightning-dir>/regtest/dev-disconnect` before every
    /// start, and the node gets `--dev-disconnect=` that file. Needs a
    /// lightningd with developer options (v23.11 and later, or a developer
    /// build): the network refuses to build otherwise.
    pub dev_disconnect: Vec<String>,
    /// Run pyln-testing's leak check: lightningd tracks its allocations
    /// (`LIGHTNINGD_DEV_MEMLEAK=1`) and, at teardown before the node is
    /// stopped, `dev-memleak` must report none. Off by default: the
    /// tracking slows lightningd down (about 1.7x for a `line_graph(3)`
    /// test). Needs developer mode (v23.11 and later, or a developer
    /// build); elsewhere the check is skipped with a note on stderr.
    pub check_memleak: bool,
    /// How long [`Node::stop`](crate::Node::stop) (also in `restart` and
    /// teardown) waits for lightningd to exit after the `stop` RPC before
    /// killing it; `None` uses [`Conf::stop_timeout`].
    pub stop_timeout: Option<Duration>,
    /// Give the node pyln-testing's defaults too (off by default, so
    /// that a plugin meets lightningd's own defaults): `--log-level=trace`
    /// (`debug` up to v24.02.2) unless [`NodeConf::log_level`] is set,
    /// `--cltv-delta=6`, `--cltv-final=5`, `--watchtime-blocks=5` (a
    /// peer's `to_self_delay` of 5, which upstream's closing tests
    /// assert), `--ignore-fee-limits=false`, `--dev-fail-on-subdaemon-fail`
    /// where developer options exist, and
    /// `CLN_PLUGIN_LOG=cln_plugin=trace,cln_rpc=trace,cln_grpc=trace,debug`.
    /// Each option only where the node's lightningd has it, and none that
    /// the node's own options or environment already set. Everything else
    /// pyln-testing gives a node every harness node gets anyway; its leak
    /// check is [`NodeConf::check_memleak`].
    pub pyln_defaults: bool,
    /// Where this node keeps its wallet; `None` uses
    /// [`Conf::db_provider`]. On [`DbProvider::Postgres`] the node gets a
    /// database of its own (named as the node) on the network's
    /// PostgreSQL server and `--wallet=postgres://...`, unless its own
    /// options give `--wallet`. It can change between starts, but a node
    /// does not take its wallet along.
    pub db_provider: Option<DbProvider>,
    /// This node's CLN schemas, for a node whose lightningd is another
    /// release than the others'; `None` uses [`Conf::cln_schemas`].
    pub cln_schemas: Option<PathBuf>,
    /// Look for leaked file descriptors when the node stops (default
    /// true): connectd's own report (`dev-report-fds`, pyln-testing's
    /// check) where lightningd has it, and, on Linux with a native
    /// lightningd, descriptors lightningd inherited from the test process.
    /// See [`NodeConf::without_fd_check`].
    pub check_fds: bool,
}

/// One item of a node's command line: an option or a startup plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeArg {
    /// A lightningd option, as given: `--alias=bob`.
    Option(String),
    /// A plugin loaded at startup.
    Plugin(PluginConf),
}

impl Default for NodeConf {
    fn default() -> Self {
        Self {
            lightningd: None,
            args: Vec::new(),
            env: Vec::new(),
            start: true,
            log_level: None,
            allow_log: Vec::new(),
            may_fail: false,
            expect_fail: false,
            feerates: Some(Feerates::default()),
            may_reconnect: false,
            allow_warning: false,
            allow_bad_gossip: false,
            dev_disconnect: Vec::new(),
            check_memleak: false,
            stop_timeout: None,
            pyln_defaults: false,
            db_provider: None,
            cln_schemas: None,
            check_fds: true,
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
        self.push_option(option);
        self
    }

    /// Loads the plugin at `path` at startup with these options
    /// (`--name=value` each): `with_plugin(path, [("opt", "v")])`, or
    /// `with_plugin(path, [])` for none. Options built at run time
    /// (`String`s): [`NodeConf::with_plugin_conf`] and
    /// [`PluginConf::with_option`].
    pub fn with_plugin<'a>(
        mut self,
        path: impl Into<PathBuf>,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut plugin = PluginConf::new(path);
        for (n, v) in options {
            plugin = plugin.with_option(n, v);
        }
        self.push_plugin(plugin);
        self
    }

    /// Loads the plugin `plugin` describes at startup.
    pub fn with_plugin_conf(mut self, plugin: PluginConf) -> Self {
        self.push_plugin(plugin);
        self
    }

    /// Sets an environment variable for lightningd and its plugins.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_env(name, value);
        self
    }

    /// Leaves the node stopped when the network is built.
    pub fn not_started(mut self) -> Self {
        self.start = false;
        self
    }

    /// Lets this node log lines matching `regex` (a `**BROKEN**` line, a
    /// plugin killed by lightningd, any line a teardown check fails on)
    /// without failing the test at teardown.
    pub fn allow_log(mut self, regex: impl Into<String>) -> Self {
        self.allow_log.push(regex.into());
        self
    }

    /// Starts the node with these feerates ([`NodeConf::feerates`]);
    /// `None` lets bitcoind answer fee estimates.
    pub fn with_feerates(mut self, feerates: Option<Feerates>) -> Self {
        self.feerates = feerates;
        self
    }

    /// Lets this node crash or exit non-zero without failing the test at
    /// teardown (its log is still checked).
    pub fn may_fail(mut self) -> Self {
        self.may_fail = true;
        self
    }

    /// Expects this node's start to fail; see [`NodeConf::expect_fail`].
    pub fn expect_fail(mut self) -> Self {
        self.expect_fail = true;
        self
    }

    /// Lets this node reconnect to its peers by itself; see
    /// [`NodeConf::may_reconnect`].
    pub fn may_reconnect(mut self) -> Self {
        self.may_reconnect = true;
        self
    }

    /// Lets this node log ` WARNING:` lines; see
    /// [`NodeConf::allow_warning`].
    pub fn allow_warning(mut self) -> Self {
        self.allow_warning = true;
        self
    }

    /// Lets this node log bad gossip; see [`NodeConf::allow_bad_gossip`].
    pub fn allow_bad_gossip(mut self) -> Self {
        self.allow_bad_gossip = true;
        self
    }

    /// Runs the leak check on this node; see [`NodeConf::check_memleak`].
    pub fn check_memleak(mut self) -> Self {
        self.check_memleak = true;
        self
    }

    /// Sets this node's `--dev-disconnect` rules; see
    /// [`NodeConf::dev_disconnect`].
    ///
    /// ```
    /// use cln_itest::NodeConf;
    ///
    /// // Drop the connection just before sending the first revoke_and_ack.
    /// let node = NodeConf::default().with_dev_disconnect(["-WIRE_REVOKE_AND_ACK"]);
    /// assert_eq!(node.dev_disconnect, ["-WIRE_REVOKE_AND_ACK"]);
    /// ```
    pub fn with_dev_disconnect<S: Into<String>>(
        mut self,
        rules: impl IntoIterator<Item = S>,
    ) -> Self {
        self.dev_disconnect = rules.into_iter().map(Into::into).collect();
        self
    }

    /// Gives this node pyln-testing's defaults; see
    /// [`NodeConf::pyln_defaults`].
    ///
    /// ```
    /// use cln_itest::NodeConf;
    ///
    /// // An upstream test's `node_factory.get_node()`.
    /// let node = NodeConf::default().with_pyln_defaults();
    /// assert!(node.pyln_defaults);
    /// ```
    pub fn with_pyln_defaults(mut self) -> Self {
        self.pyln_defaults = true;
        self
    }

    /// Keeps this node's wallet in `provider`; see
    /// [`NodeConf::db_provider`].
    pub fn with_db_provider(mut self, provider: DbProvider) -> Self {
        self.db_provider = Some(provider);
        self
    }

    /// Skips the file descriptor checks for this node
    /// ([`NodeConf::check_fds`]): for a test that leaves a descriptor to
    /// lightningd on purpose, or a lightningd whose connectd is expected to
    /// hold one it does not own.
    pub fn without_fd_check(mut self) -> Self {
        self.check_fds = false;
        self
    }

    /// Checks this node's replies against the schemas under `path`; see
    /// [`NodeConf::cln_schemas`].
    pub fn with_cln_schemas(mut self, path: impl Into<PathBuf>) -> Self {
        self.cln_schemas = Some(path.into());
        self
    }

    /// Sets [`NodeConf::stop_timeout`].
    pub fn with_stop_timeout(mut self, limit: Duration) -> Self {
        self.stop_timeout = Some(limit);
        self
    }

    /// Appends an option (for editing a node between starts).
    pub fn push_option(&mut self, option: impl Into<String>) {
        self.args.push(NodeArg::Option(option.into()));
    }

    /// Appends a startup plugin.
    pub fn push_plugin(&mut self, plugin: PluginConf) {
        self.args.push(NodeArg::Plugin(plugin));
    }

    /// Removes every option named `name` (`--name` and `--name=...`; give it
    /// with or without the dashes); returns how many there were.
    pub fn remove_option(&mut self, name: &str) -> usize {
        let name = name.trim_start_matches('-');
        let before = self.args.len();
        self.args.retain(|arg| match arg {
            NodeArg::Option(o) => {
                let given = o.trim_start_matches('-');
                given != name && !given.starts_with(&format!("{name}="))
            }
            NodeArg::Plugin(_) => true,
        });
        before - self.args.len()
    }

    /// Removes every startup plugin whose path ends with `name` (its file
    /// name or a longer part of its path); returns how many there were.
    pub fn remove_plugin(&mut self, name: impl AsRef<std::path::Path>) -> usize {
        let before = self.args.len();
        self.args.retain(|arg| match arg {
            NodeArg::Plugin(p) => !p.path.ends_with(name.as_ref()),
            NodeArg::Option(_) => true,
        });
        before - self.args.len()
    }

    /// Sets `name` to `value` in [`NodeConf::env`], replacing an earlier
    /// value.
    pub fn set_env(&mut self, name: impl Into<String>, value: impl Into<String>) {
        set_env(&mut self.env, name.into(), value.into());
    }

    /// Removes `name` from [`NodeConf::env`].
    pub fn remove_env(&mut self, name: &str) {
        self.env.retain(|(n, _)| n != name);
    }

    /// The options, in order.
    pub fn options(&self) -> impl Iterator<Item = &str> {
        self.args.iter().filter_map(|arg| match arg {
            NodeArg::Option(o) => Some(o.as_str()),
            NodeArg::Plugin(_) => None,
        })
    }

    /// The startup plugins, in order.
    pub fn plugins(&self) -> impl Iterator<Item = &PluginConf> {
        self.args.iter().filter_map(|arg| match arg {
            NodeArg::Plugin(p) => Some(p),
            NodeArg::Option(_) => None,
        })
    }
}

/// A plugin loaded at node startup.
///
/// lightningd has no per-plugin environment, so a plugin with [`env`]
/// is started through a small `/bin/sh` wrapper with the same file name
/// (in `<lightning-dir>/plugin-env/<n>/`), which sets the variables and
/// `exec`s the plugin: lightningd names it, and logs as it, exactly as the
/// plugin itself, but `plugin list` shows the wrapper's path. A
/// [`traced`](PluginConf::traced) plugin is started the same way.
///
/// [`env`]: PluginConf::env
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginConf {
    /// Absolute path of the plugin executable.
    pub path: PathBuf,
    /// Its options as `(name, value)`, passed as `--name=value` right after
    /// the plugin, in this order.
    pub options: Vec<(String, String)>,
    /// Environment variables for this plugin only.
    pub env: Vec<(String, String)>,
    /// The plugin may die, or never finish starting, without failing the
    /// node's start. By default a node whose startup plugin is not active
    /// once lightningd is up fails to start, naming the plugin.
    pub may_fail: bool,
    /// Trace every message between lightningd and the plugin
    /// ([`PluginConf::traced`]).
    pub traced: bool,
}

impl PluginConf {
    /// The plugin at `path`, without options.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            options: Vec::new(),
            env: Vec::new(),
            may_fail: false,
            traced: false,
        }
    }

    /// Records every JSON-RPC message between lightningd and this plugin
    /// (`getmanifest`, `init`, hook calls and replies, notifications both
    /// ways, calls of its RPC methods), read with
    /// [`Node::plugin_trace`](crate::Node::plugin_trace) and waited for
    /// with [`Node::wait_for_hook_call`](crate::Node::wait_for_hook_call).
    /// The plugin is started through a relay that copies its stdin and
    /// stdout unchanged and appends each message to
    /// `<lightning-dir>/plugin-trace/<file name>.trace`; lightningd still
    /// names it by its file name. A message lightningd rejects also
    /// becomes a teardown finding that quotes it.
    pub fn traced(mut self) -> Self {
        self.traced = true;
        self
    }

    /// Lets the plugin die or hang at startup; see [`PluginConf::may_fail`].
    pub fn may_fail(mut self) -> Self {
        self.may_fail = true;
        self
    }

    /// Adds `--name=value`.
    pub fn with_option(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((name.into(), value.into()));
        self
    }

    /// Sets an environment variable for this plugin only.
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        set_env(&mut self.env, name.into(), value.into());
        self
    }
}

fn set_env(env: &mut Vec<(String, String)>, name: String, value: String) {
    match env.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The backend for `daemon` (see [`Daemon::choose`]): a variable's, else
/// natively where its binary is here, else in a container where the Docker
/// engine can run its image. Chosen once per process, and said once on
/// stderr when a container stands in for a missing binary. A misspelt
/// variable panics: silently running natively would hide it.
fn chosen_backend(daemon: &'static Daemon) -> Backend {
    static CHOSEN: [OnceLock<Backend>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = &CHOSEN[usize::from(daemon.backend_var == LIGHTNINGD_DAEMON.backend_var)];
    *slot.get_or_init(|| {
        let choice = daemon
            .choose(|image| {
                crate::probe::engine::check()?;
                let host = crate::probe::engine::docker_host()?;
                crate::probe::engine::image_available(&host, image, daemon.image_var)
            })
            .unwrap_or_else(|e| panic!("itest: {e}"));
        if let Some(note) = &choice.automatic {
            // Straight to the process's stderr, past libtest's capture: the
            // choice concerns the whole run, not one test.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "itest: {note}");
        }
        choice.backend
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_plugins_keep_their_order_and_can_be_removed_by_name() {
        let mut node = NodeConf::default()
            .with_option("--alias=a")
            .with_plugin("/p/one.py", [("x", "1")])
            .with_option("--aliasx=b")
            .with_option("alias")
            .with_plugin_conf(PluginConf::new("/p/two.py"))
            // No options: `[]` needs no type annotation.
            .with_plugin("/p/three.py", []);
        let order: Vec<String> = node
            .args
            .iter()
            .map(|a| match a {
                NodeArg::Option(o) => o.clone(),
                NodeArg::Plugin(p) => p.path.display().to_string(),
            })
            .collect();
        assert_eq!(
            order,
            [
                "--alias=a",
                "/p/one.py",
                "--aliasx=b",
                "alias",
                "/p/two.py",
                "/p/three.py"
            ]
        );
        assert_eq!(node.remove_option("--alias"), 2);
        assert_eq!(node.options().collect::<Vec<_>>(), ["--aliasx=b"]);
        assert_eq!(node.remove_plugin("one.py"), 1);
        assert_eq!(
            node.plugins().map(|p| &p.path).collect::<Vec<_>>(),
            ["/p/two.py", "/p/three.py"]
        );
        assert!(node.plugins().last().unwrap().options.is_empty());
    }

    #[test]
    fn env_values_replace_earlier_ones() {
        let conf = Conf::with_nodes(2).with_node_env("A", "0");
        assert!(conf
            .nodes
            .iter()
            .all(|n| n.env == [("A".into(), "0".into())]));
        let mut node = NodeConf::default().with_env("A", "1").with_env("B", "2");
        node.set_env("A", "3");
        node.remove_env("B");
        assert_eq!(node.env, [("A".to_string(), "3".to_string())]);
    }
}
