//! A bitcoind plus any number of lightningd nodes in one temporary
//! directory.
//!
//! Teardown policy (on drop, also while a test panics):
//! - if the test failed, the network failed to start, or a node died on its
//!   own, print where the files are and every daemon's log tail *before*
//!   stopping them, so the tail shows the failure rather than the shutdown;
//! - stop every node (`stop` RPC, up to its stop budget,
//!   [`NodeConf::stop_timeout`] or [`Conf::stop_timeout`], then SIGKILL of
//!   its process group) and bitcoind;
//! - if the test body passed, run the teardown checks on every node
//!   (`crate::findings`: `**BROKEN**` log lines, plugins killed by lightningd,
//!   crash logs, a non-zero exit; minus what [`NodeConf::allow_log`] and
//!   [`NodeConf::may_fail`] allow) and fail the test with the findings;
//! - keep the directory in those cases or with [`Conf::keep_dirs`], else
//!   delete it.

mod balance;
pub(crate) mod chain;
pub(crate) mod channels;
mod gossip_waits;
pub(crate) mod line_graph;
pub(crate) mod money;
mod onchain;
mod peer_pay;
mod teardown;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

use crate::bitcoind::BitcoinD;
use crate::conf::{Conf, NodeConf};
use crate::daemon::boundary::Side;
use crate::daemon::placement::{Placement, Sites};
use crate::error::{bail, Context, FromInternal, Result};
use crate::lightningd::bin::LightningdBin;
use crate::node::{Node, NodeEnv};
use crate::postgres::{check_driver, DbProvider, Postgres, PostgresSlot};
use crate::probe::backend::DockerMode;
use crate::probe::lookup::LIGHTNINGD;
use crate::timeline::{Step, Timeline};

/// How many lines of each log a failure report shows.
const TAIL_LINES: usize = 30;

/// A running regtest network. Dropping it tears everything down.
///
/// ```no_run
/// use cln_itest::{Conf, Network, NodeConf};
/// use serde_json::json;
///
/// let mut conf = Conf::default();
/// conf.nodes = vec![
///     NodeConf::default().with_plugin("/abs/path/to/my-plugin", [("my-opt", "1")]),
///     NodeConf::default(),
/// ];
/// let net = Network::with_conf(&conf).unwrap();
/// let (l1, l2) = (net.node(0), net.node(1));
/// let reply = l1.call("my-method", json!([])).unwrap();
/// net.fund_channel(l1, l2, 1_000_000).unwrap();
/// l2.restart().unwrap();
/// // Nodes can be added while others are in use: `add_node` takes `&self`.
/// let l3 = net.add_node(NodeConf::default()).unwrap();
/// net.connect(l3, l1).unwrap();
/// ```
pub struct Network {
    // Field order matters for Drop: nodes before bitcoind before what they
    // share on a Docker engine before the dir.
    /// Append-only, so `add_node(&self)` can hand out a `&Node` while
    /// other nodes are borrowed.
    nodes: boxcar::Vec<Node>,
    /// Held while a node is added, so names and directories stay unique.
    adding: Mutex<()>,
    /// The PostgreSQL server of PostgreSQL nodes, stopped after them.
    postgres: Arc<PostgresSlot>,
    bitcoind: Option<Arc<BitcoinD>>,
    sites: Sites,
    dir: Option<TempDir>,
    conf: Conf,
    /// Set until the network is built, so a failed start keeps its logs.
    start_failed: bool,
    /// The steps the harness took, for [`Network::timeline`].
    timeline: Arc<Timeline>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("dir", &self.dir())
            .field("bitcoind", &self.bitcoind)
            .field("nodes", &self.nodes())
            .finish()
    }
}

impl Network {
    /// bitcoind plus two nodes, with [`Conf::default`].
    pub fn start() -> Result<Self> {
        Self::with_conf(&Conf::default())
    }

    /// Starts bitcoind, then every node with `start: true` (in parallel),
    /// and waits until all are ready. Safe on any thread and inside a
    /// tokio runtime (it blocks the calling thread).
    ///
    /// On failure the error names the kept directory and carries the
    /// failing daemon's log tail.
    pub fn with_conf(conf: &Conf) -> Result<Self> {
        Placement::prepare(conf).internal()?;
        if let Some(lib) = conf.libfaketime.as_deref().filter(|p| !p.is_file()) {
            bail!(
                "Conf::libfaketime {} is not a file (ITEST_LIBFAKETIME=off disables it)",
                lib.display()
            );
        }
        let timeline = Arc::new(Timeline::new());
        let mut builder = tempfile::Builder::new();
        builder.prefix("itest-");
        let dir = match &conf.tmp_root {
            Some(root) => builder.tempdir_in(root),
            None => builder.tempdir(),
        }
        .context("creating the network's temp dir")?;
        let root = dir.path().to_path_buf();
        let sites = Sites::new(conf, &root).internal()?;
        // Place and resolve every daemon first, lightningd first (the one
        // most often missing), so a missing binary fails before anything
        // starts.
        let nodes = conf
            .nodes
            .iter()
            .map(|node| PlacedNode::new(conf, &sites, node, &root))
            .collect::<Result<Vec<_>>>()?;
        let bitcoind = sites.bitcoind(conf, &root).internal()?;
        let bitcoind_path = BitcoinD::program(conf, &bitcoind)?;
        let postgres = Arc::new(PostgresSlot::new(
            sites.this_machine(),
            &root,
            conf.postgres_bin_dir.clone(),
            conf.timeout,
        ));
        let mut net = Network {
            nodes: boxcar::Vec::new(),
            adding: Mutex::new(()),
            postgres,
            bitcoind: None,
            sites,
            dir: Some(dir),
            conf: conf.clone(),
            start_failed: true,
            timeline,
        };
        net.start_all(&bitcoind, &bitcoind_path, nodes)
            .with_context(|| {
                format!(
                    "starting the regtest network in {} (kept for inspection)",
                    root.display()
                )
            })?;
        net.start_failed = false;
        Ok(net)
    }

    fn start_all(
        &mut self,
        placement: &Placement,
        bitcoind: &Path,
        nodes: Vec<PlacedNode>,
    ) -> Result<()> {
        let root = self.dir().to_path_buf();
        let timeline = self.timeline.clone();
        // Only this process talks to bitcoind: every lightningd reaches it
        // through its node's proxy here.
        let btc = timeline.time("bitcoind: launched", || {
            BitcoinD::launch(
                &self.conf,
                placement,
                bitcoind,
                &root.join("bitcoind"),
                Side::ThisMachine,
            )
        })?;
        let btc = Arc::new(btc);
        self.bitcoind = Some(btc.clone());
        // Everything starts at once: while bitcoind comes up, gets its
        // wallet and mines its first blocks, learn what each lightningd
        // supports (`--version`, `--help`; cached per binary) and launch
        // the nodes. Their proxies hold lightningd's chain calls until
        // bitcoind is ready, so lightningd spends its own start-up (plugins,
        // database, keys) meanwhile and then finds the chain complete.
        let (open, upstream_ready) = tokio::sync::watch::channel(false);
        let (conf, to_start) = (self.conf.clone(), &self.conf.nodes);
        std::thread::scope(|s| {
            let ready = s.spawn(|| {
                let ready = btc.wait_ready(conf.timeout, conf.initial_blocks, &timeline);
                if ready.is_ok() {
                    let _ = open.send(true);
                }
                ready
            });
            // PostgreSQL nodes need their server before they launch;
            // `initdb` runs while bitcoind starts.
            let launched = self
                .start_postgres(&nodes)
                .and_then(|()| self.launch_nodes(nodes, upstream_ready));
            let ready = ready.join().expect("bitcoind readiness panicked");
            // bitcoind's failure explains a node's, not the other way round.
            ready.and(launched)
        })?;
        let to_start: Vec<&Node> = self
            .nodes()
            .into_iter()
            .zip(to_start)
            .filter(|(_, c)| c.start)
            .map(|(n, _)| n)
            .collect();
        std::thread::scope(|s| {
            let waits: Vec<_> = to_start
                .iter()
                .map(|n| s.spawn(move || n.wait_ready().or_else(|e| n.failed_as_expected(e))))
                .collect();
            waits
                .into_iter()
                .try_for_each(|h| h.join().expect("readiness thread panicked"))
        })?;
        Ok(())
    }

    /// Inspects each node's lightningd, creates the nodes (their proxies
    /// gated by `upstream_ready`) and launches those to start.
    fn launch_nodes(
        &self,
        nodes: Vec<PlacedNode>,
        upstream_ready: tokio::sync::watch::Receiver<bool>,
    ) -> Result<()> {
        let bins = self.timeline.time(
            "lightningd: --version and --help (cached per binary)",
            || {
                nodes
                    .iter()
                    .map(PlacedNode::inspect)
                    .collect::<Result<Vec<_>>>()
            },
        )?;
        for ((placed, bin), conf) in nodes.into_iter().zip(bins).zip(self.conf.nodes.clone()) {
            let start = conf.start;
            let node = self.prepare_node(conf, placed, bin, upstream_ready.clone())?;
            if start {
                node.launch().or_else(|e| node.failed_as_expected(e))?;
            }
        }
        Ok(())
    }

    /// Ahead of the nodes' start: checks that each PostgreSQL node's
    /// lightningd has the driver (each node checks again, from the cache,
    /// when it starts) and starts the server, so that `initdb` runs while
    /// bitcoind starts.
    fn start_postgres(&self, nodes: &[PlacedNode]) -> Result<()> {
        let mut clients = None;
        let first = self.nodes.count();
        for (i, (placed, conf)) in nodes.iter().zip(&self.conf.nodes).enumerate() {
            if conf.start
                && conf.db_provider.unwrap_or(self.conf.db_provider) == DbProvider::Postgres
            {
                check_driver(&placed.placement, &placed.lightningd)
                    .map_err(|e| e.context(format!("l{} (on PostgreSQL)", first + i + 1)))?;
                clients = Some(placed.placement.side());
            }
        }
        match clients {
            Some(side) => self.timeline.time("postgres: server started", || {
                self.postgres.get_or_start(side).map(|_| ())
            }),
            None => Ok(()),
        }
    }

    /// Creates the next node (`l<N+1>`) from `conf`; the caller holds
    /// `adding` or is the only one building.
    fn prepare_node(
        &self,
        conf: NodeConf,
        placed: PlacedNode,
        bin: LightningdBin,
        upstream_ready: tokio::sync::watch::Receiver<bool>,
    ) -> Result<&Node> {
        let name = format!("l{}", self.nodes.count() + 1);
        let env = NodeEnv {
            bitcoind: self.bitcoind.as_ref().expect("bitcoind starts first"),
            placement: placed.placement,
            bitcoin_cli: placed.bitcoin_cli,
            default_lightningd: self.conf.lightningd.as_deref(),
            log_level: &self.conf.log_level,
            timeout: self.conf.timeout,
            stop_timeout: self.conf.stop_timeout,
            libfaketime: self.conf.libfaketime.as_deref(),
            upstream_ready,
            timeline: &self.timeline,
            db_provider: self.conf.db_provider,
            postgres: &self.postgres,
            cln_schemas: self.conf.cln_schemas.as_deref(),
        };
        let node = Node::new(&name, &self.dir().join(&name), conf, bin, &env)?;
        let index = self.nodes.push(node);
        Ok(&self.nodes[index])
    }

    /// Adds a node to the running network (named `l<N+1>`), and starts it
    /// unless `conf.start` is false. It takes `&self`: nodes you already
    /// hold stay usable, and the new one is `net.node(N)` from now on.
    /// A node that fails to start stays in the network, stopped, as a
    /// node with `start: false` would.
    pub fn add_node(&self, conf: NodeConf) -> Result<&Node> {
        let placed = PlacedNode::new(&self.conf, &self.sites, &conf, self.dir())?;
        let bin = placed.inspect()?;
        let start = conf.start;
        let node = {
            let _adding = self.adding.lock().unwrap_or_else(|p| p.into_inner());
            // bitcoind is long ready: nothing to hold.
            self.prepare_node(conf, placed, bin, tokio::sync::watch::channel(true).1)?
        };
        if start {
            node.start().or_else(|e| node.failed_as_expected(e))?;
        }
        Ok(node)
    }

    /// The directory holding every daemon's files.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir exists until drop").path()
    }

    /// The configuration this network was built with (a node's current
    /// settings are [`Node::conf`]).
    pub fn conf(&self) -> &Conf {
        &self.conf
    }

    /// Node `i`, counting from 0 (`node(0)` is `l1`). Panics if there is no
    /// such node.
    pub fn node(&self, i: usize) -> &Node {
        self.nodes.get(i).unwrap_or_else(|| {
            panic!(
                "the network has {} node(s); there is no node({i})",
                self.nodes.count()
            )
        })
    }

    /// Every node, in order.
    pub fn nodes(&self) -> Vec<&Node> {
        self.nodes.iter().map(|(_, n)| n).collect()
    }

    /// How the network's containers and this machine reach each other:
    /// what [`Conf::docker_mode`] comes to on this engine (`Host` or
    /// `Isolated`, never `Auto`); `None` when no daemon runs in a
    /// container.
    pub fn docker_mode(&self) -> Option<DockerMode> {
        self.sites.docker_mode()
    }

    /// The steps the harness took so far (starting bitcoind and each
    /// node, funding, mining, waits), each with when it began and how
    /// long it took: where a slow test's time went. `ITEST_TIMELINE=1`
    /// prints the whole timeline, teardown included, when the network
    /// drops.
    pub fn timeline(&self) -> Vec<Step> {
        self.timeline.steps()
    }

    /// The PostgreSQL server of the network's PostgreSQL nodes
    /// ([`DbProvider::Postgres`]), once one has started: where their
    /// databases are (one per node, named as the node), and a way to
    /// query any of them. `None` while no node has needed it.
    pub fn postgres(&self) -> Option<Postgres> {
        self.postgres.get()
    }

    /// The network's bitcoind.
    pub fn bitcoind(&self) -> &BitcoinD {
        self.bitcoind.as_ref().expect("bitcoind exists until drop")
    }
}

/// A node's placement and programs, decided before anything starts.
struct PlacedNode {
    placement: Placement,
    lightningd: PathBuf,
    bitcoin_cli: PathBuf,
}

impl PlacedNode {
    fn new(conf: &Conf, sites: &Sites, node: &NodeConf, root: &Path) -> Result<Self> {
        let placement = sites.lightningd(conf, node, root).internal()?;
        let lightningd = placement
            .program(
                LIGHTNINGD,
                conf.lightningd.as_deref(),
                node.lightningd.as_deref(),
            )
            .internal()?;
        let bitcoin_cli = placement.bitcoin_cli(conf).internal()?;
        Ok(Self {
            placement,
            lightningd,
            bitcoin_cli,
        })
    }

    /// What its lightningd supports.
    fn inspect(&self) -> Result<LightningdBin> {
        LightningdBin::inspect(&self.placement, &self.lightningd)
    }
}
