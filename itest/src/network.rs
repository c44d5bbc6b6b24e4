//! A bitcoind plus any number of lightningd nodes in one temporary
//! directory.
//!
//! Teardown policy (on drop, also while a test panics):
//! - if the test failed, the network failed to start, or a node died on its
//!   own, print where the files are and every daemon's log tail *before*
//!   stopping them, so the tail shows the failure rather than the shutdown;
//! - stop every node (`stop` RPC, short wait, SIGKILL of its process group)
//!   and bitcoind;
//! - if the test body passed, run the teardown checks on every node
//!   (`teardown`: `**BROKEN**` log lines, plugins killed by lightningd,
//!   crash logs, a non-zero exit; minus what [`NodeConf::allow_log`] and
//!   [`NodeConf::may_fail`] allow) and fail the test with the findings;
//! - keep the directory in those cases or with [`Conf::keep_dirs`], else
//!   delete it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::bitcoind::BitcoinD;
use crate::conf::{Conf, NodeConf};
use crate::daemon::placement::Placement;
use crate::lightningd_bin::LightningdBin;
use crate::node::{Node, NodeEnv};
use crate::probe::lookup::LIGHTNINGD;
use crate::teardown::{report, Finding};
use crate::wait::wait_until;

/// How many lines of each log a failure report shows.
const TAIL_LINES: usize = 30;

/// A running regtest network. Dropping it tears everything down.
///
/// ```no_run
/// use itest::{Conf, Network, NodeConf};
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
/// ```
pub struct Network {
    // Field order matters for Drop: nodes before bitcoind before the dir.
    nodes: Vec<Node>,
    bitcoind: Option<Arc<BitcoinD>>,
    dir: Option<TempDir>,
    conf: Conf,
    /// Set until the network is built, so a failed start keeps its logs.
    start_failed: bool,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("dir", &self.dir())
            .field("bitcoind", &self.bitcoind)
            .field("nodes", &self.nodes)
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
        Placement::prepare(conf)?;
        if let Some(lib) = conf.libfaketime.as_deref().filter(|p| !p.is_file()) {
            anyhow::bail!(
                "Conf::libfaketime {} is not a file (ITEST_LIBFAKETIME=off disables it)",
                lib.display()
            );
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix("itest-");
        let dir = match &conf.tmp_root {
            Some(root) => builder.tempdir_in(root),
            None => builder.tempdir(),
        }
        .context("creating the network's temp dir")?;
        let root = dir.path().to_path_buf();
        // Place and resolve every daemon first, lightningd first (the one
        // most often missing), so a missing binary fails before anything
        // starts.
        let nodes = conf
            .nodes
            .iter()
            .map(|node| PlacedNode::new(conf, node, &root))
            .collect::<Result<Vec<_>>>()?;
        let bitcoind = Placement::bitcoind(conf, &root)?;
        let bitcoind_path = BitcoinD::program(conf, &bitcoind)?;
        let mut net = Network {
            nodes: Vec::new(),
            bitcoind: None,
            dir: Some(dir),
            conf: conf.clone(),
            start_failed: true,
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
        let mut btc = BitcoinD::launch(&self.conf, placement, bitcoind, &root.join("bitcoind"))?;
        // While bitcoind starts, learn what each lightningd supports
        // (`--version`, `--help`; cached per binary).
        let (ready, bins) = std::thread::scope(|s| {
            let inspect = s.spawn(|| {
                nodes
                    .iter()
                    .map(PlacedNode::inspect)
                    .collect::<Result<Vec<_>>>()
            });
            let ready = btc.wait_ready(self.conf.timeout, self.conf.initial_blocks);
            (
                ready,
                inspect.join().expect("lightningd inspection panicked"),
            )
        });
        self.bitcoind = Some(Arc::new(btc));
        ready?;
        let bins = bins?;
        for ((placed, bin), conf) in nodes.into_iter().zip(bins).zip(self.conf.nodes.clone()) {
            self.prepare_node(conf, placed, bin)?;
        }
        let to_start: Vec<&Node> = self
            .nodes
            .iter()
            .zip(&self.conf.nodes)
            .filter(|(_, c)| c.start)
            .map(|(n, _)| n)
            .collect();
        for node in &to_start {
            node.launch()?;
        }
        std::thread::scope(|s| {
            let waits: Vec<_> = to_start
                .iter()
                .map(|n| s.spawn(move || n.wait_ready()))
                .collect();
            waits
                .into_iter()
                .try_for_each(|h| h.join().expect("readiness thread panicked"))
        })?;
        Ok(())
    }

    fn prepare_node(
        &mut self,
        conf: NodeConf,
        placed: PlacedNode,
        bin: LightningdBin,
    ) -> Result<&Node> {
        let name = format!("l{}", self.nodes.len() + 1);
        let env = NodeEnv {
            bitcoind: self.bitcoind.as_ref().expect("bitcoind starts first"),
            placement: placed.placement,
            bitcoin_cli: placed.bitcoin_cli,
            log_level: &self.conf.log_level,
            timeout: self.conf.timeout,
            libfaketime: self.conf.libfaketime.as_deref(),
        };
        let node = Node::new(&name, &self.dir().join(&name), conf, bin, &env)?;
        self.nodes.push(node);
        Ok(self.nodes.last().expect("just pushed"))
    }

    /// Adds a node to a running network (named `l<N+1>`), and starts it
    /// unless `conf.start` is false.
    pub fn add_node(&mut self, conf: NodeConf) -> Result<&Node> {
        let placed = PlacedNode::new(&self.conf, &conf, self.dir())?;
        let bin = placed.inspect()?;
        let start = conf.start;
        self.conf.nodes.push(conf.clone());
        let node = self.prepare_node(conf, placed, bin)?;
        if start {
            node.start()?;
        }
        Ok(node)
    }

    /// The directory holding every daemon's files.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir exists until drop").path()
    }

    /// The configuration this network was built with (plus added nodes).
    pub fn conf(&self) -> &Conf {
        &self.conf
    }

    /// Node `i`, counting from 0 (`node(0)` is `l1`).
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Every node, in order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The network's bitcoind.
    pub fn bitcoind(&self) -> &BitcoinD {
        self.bitcoind.as_ref().expect("bitcoind exists until drop")
    }

    /// Mines `n` blocks and waits until every started node has processed
    /// them (a node that died fails this, naming it; stopped nodes are
    /// skipped).
    pub fn mine(&self, n: u64) -> Result<()> {
        self.bitcoind().mine(n)?;
        let height = self.bitcoind().height()?;
        let started = self
            .nodes
            .iter()
            .filter(|n| n.is_running() || n.exit_status().is_some());
        for node in started {
            node.wait_blockheight(height)?;
        }
        Ok(())
    }

    /// Connects `a` to `b` over loopback.
    pub fn connect(&self, a: &Node, b: &Node) -> Result<Value> {
        a.rpc(
            "connect",
            json!({"id": b.id()?, "host": "127.0.0.1", "port": b.port()}),
        )
    }

    /// Sends `sats` from bitcoind to a fresh address of `node`, confirms it
    /// and waits until the node sees it as a confirmed output.
    pub fn fund_wallet(&self, node: &Node, sats: u64) -> Result<()> {
        self.fund_wallets(&[node], sats)
    }

    /// Opens a `sats` channel from `a` to `b`: funds `a`'s wallet (plus
    /// [`Conf::funding_margin_sat`]), connects, `fundchannel`, mines
    /// [`Conf::channel_confirmations`] blocks and waits until both sides
    /// list the channel as `CHANNELD_NORMAL` (`listpeerchannels`, since
    /// v23.02). Returns `fundchannel`'s reply.
    pub fn fund_channel(&self, a: &Node, b: &Node, sats: u64) -> Result<Value> {
        self.fund_wallet(a, sats + self.conf.funding_margin_sat)?;
        self.connect(a, b)?;
        let (a_id, b_id) = (a.id()?, b.id()?);
        let funded = a.rpc("fundchannel", json!({"id": b_id, "amount": sats}))?;
        self.mine(self.conf.channel_confirmations)?;
        for (node, peer) in [(a, &b_id), (b, &a_id)] {
            self.wait_channel_state(node, peer, "CHANNELD_NORMAL")?;
        }
        Ok(funded)
    }

    /// Waits until `node` lists a channel with `peer` (a node id) in
    /// `state`.
    pub fn wait_channel_state(&self, node: &Node, peer: &str, state: &str) -> Result<()> {
        let what = format!("{}'s channel with {peer} to be {state}", node.name());
        wait_until(&what, self.conf.timeout, |last| {
            let reply = node.rpc("listpeerchannels", json!({"id": peer}))?;
            let states: Vec<Value> = reply["channels"]
                .as_array()
                .map(|cs| cs.iter().map(|c| c["state"].clone()).collect())
                .unwrap_or_default();
            *last = format!("states {states:?}");
            Ok(states.contains(&json!(state)).then_some(()))
        })
        .map_err(|e| node.explain(e))
    }

    /// What a failing test prints: where the files are and each log tail.
    fn failure_report(&self, why: &str) -> String {
        let mut out = format!(
            "\n===== itest: {why}; files kept in {} =====\n",
            self.dir().display()
        );
        if let Some(b) = &self.bitcoind {
            out.push_str(&format!(
                "[bitcoind] datadir {}\n{}\n",
                b.datadir().display(),
                b.log_tail(TAIL_LINES)
            ));
        }
        for n in &self.nodes {
            let state = match n.exit_status() {
                Some(status) => format!(" DIED ({status})"),
                None => String::new(),
            };
            out.push_str(&format!(
                "[{}]{state} lightning-dir {}\n{}\n",
                n.name(),
                n.lightning_dir().display(),
                n.log_tail(TAIL_LINES)
            ));
        }
        out
    }
}

impl Network {
    /// Stops every daemon and runs the teardown checks now, returning
    /// their findings as an error instead of panicking at drop. For a test
    /// that expects its network to fail them, or wants a `Result`.
    pub fn finish(mut self) -> Result<()> {
        self.teardown()
    }

    /// The teardown policy in the module docs. Idempotent: the second call
    /// (drop after [`Network::finish`]) finds nothing left to do.
    fn teardown(&mut self) -> Result<()> {
        if self.dir.is_none() {
            return Ok(());
        }
        let dead: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.exit_status().is_some())
            .map(|n| n.name())
            .collect();
        let why = if std::thread::panicking() {
            Some("test failed".to_string())
        } else if self.start_failed {
            Some("network failed to start".to_string())
        } else if !dead.is_empty() {
            Some(format!("node(s) {} died during the test", dead.join(", ")))
        } else {
            None
        };
        if let Some(why) = &why {
            // libtest shows this for failing tests (and with --nocapture).
            eprintln!("{}", self.failure_report(why));
        }
        std::thread::scope(|s| {
            for node in &self.nodes {
                s.spawn(move || node.shutdown());
            }
        });
        // A failed test or start already fails; its findings are noise.
        let checks = if std::thread::panicking() || self.start_failed {
            Vec::new()
        } else {
            self.teardown_findings()
        };
        self.nodes.clear();
        self.bitcoind.take();
        let keep = why.is_some() || !checks.is_empty() || self.conf.keep_dirs;
        let dir = self.dir.take().expect("checked above");
        let shown = dir.path().display().to_string();
        if keep {
            let path = dir.keep();
            eprintln!("itest: kept {}", path.display());
        }
        if checks.is_empty() {
            return Ok(());
        }
        bail!(
            "itest: the network failed its teardown checks; files kept in {shown}\n{}\n\
             (expected? allow the lines with NodeConf::allow_log(regex), \
             a node that may crash or exit non-zero with NodeConf::may_fail())",
            checks.join("\n")
        )
    }

    /// One report per node that fails the teardown checks.
    fn teardown_findings(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|node| {
                let findings = node
                    .teardown_findings()
                    .unwrap_or_else(|e| vec![Finding::Unreadable(format!("{e:#}"))]);
                (!findings.is_empty()).then(|| report(node.name(), node.lightning_dir(), &findings))
            })
            .collect()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            // Not while unwinding: a second panic would abort the process.
            if !std::thread::panicking() {
                panic!("{e:#}");
            }
        }
    }
}

/// A node's placement and programs, decided before anything starts.
struct PlacedNode {
    placement: Placement,
    lightningd: PathBuf,
    bitcoin_cli: PathBuf,
}

impl PlacedNode {
    fn new(conf: &Conf, node: &NodeConf, root: &Path) -> Result<Self> {
        let placement = Placement::lightningd(conf, node, root)?;
        let lightningd = placement.program(
            LIGHTNINGD,
            conf.lightningd.as_deref(),
            node.lightningd.as_deref(),
        )?;
        let bitcoin_cli = placement.bitcoin_cli(conf)?;
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
