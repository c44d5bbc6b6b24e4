//! A bitcoind plus N lightningd nodes in one temporary directory.
//!
//! Teardown policy (on drop, also while a test panics):
//! - if the test failed (or the network failed to start), print where the
//!   files are and the last lines of every daemon's log, *before* stopping
//!   them so the tail shows the failure rather than the shutdown;
//! - stop every node (`stop` RPC, short wait, SIGKILL the process group)
//!   and bitcoind;
//! - keep the directory if the test failed or `ITEST_KEEP=1`, else delete it.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::binaries::{require, Binaries, LightningdBin, LIGHTNINGD};
use crate::bitcoind::BitcoinD;
use crate::lightningd::Node;
use crate::wait::{keep_dirs, timeout, wait_until};

/// How many lines of each log a failure report shows.
const TAIL_LINES: usize = 30;

/// Configures a [`Network`].
#[derive(Debug, Clone)]
pub struct NetworkBuilder {
    nodes: usize,
    node_args: Vec<String>,
}

impl Default for NetworkBuilder {
    fn default() -> Self {
        Self {
            nodes: 2,
            node_args: Vec::new(),
        }
    }
}

impl NetworkBuilder {
    /// Number of lightningd nodes (default 2; 0 for bitcoind only, which
    /// needs no lightningd binary).
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// An extra lightningd command-line argument for every node, e.g.
    /// `--plugin=/abs/path` to load a plugin at startup.
    pub fn node_arg(mut self, arg: impl Into<String>) -> Self {
        self.node_args.push(arg.into());
        self
    }

    /// Starts bitcoind, then all nodes, and waits until all are ready.
    ///
    /// Spawns every daemon from the calling thread: they are killed when
    /// that thread exits (see `process`), so build the network on the
    /// thread that uses it. On failure the error carries the failing
    /// daemon's log tail, and the directory is kept; its path is in the
    /// error.
    pub fn build(self) -> Result<Network> {
        // Resolve every path first, lightningd first (the one most often
        // missing), so a missing binary fails before anything starts.
        let lightningd = if self.nodes == 0 {
            None
        } else {
            Some(require(LIGHTNINGD)?)
        };
        let bins = Binaries::bitcoin_only()?;
        let dir = tempfile::Builder::new()
            .prefix("itest-")
            .tempdir()
            .context("creating the network's temp dir")?;
        let mut net = Network {
            nodes: Vec::new(),
            bitcoind: None,
            dir: Some(dir),
            start_failed: true,
        };
        let root = net.dir().to_path_buf();
        self.start_all(bins, lightningd.as_deref(), &mut net)
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
        &self,
        mut bins: Binaries,
        lightningd: Option<&Path>,
        net: &mut Network,
    ) -> Result<()> {
        let root = net.dir().to_path_buf();
        let limit = timeout();

        let mut bitcoind = BitcoinD::spawn(&bins, &root.join("bitcoind"))?;
        // While bitcoind starts (most of it a fixed ~100 ms RNG seeding),
        // run `lightningd --version`/`--help` on another thread: the first
        // network of a process pays ~80 ms for them, later ones hit the
        // cache. That thread spawns no daemon, so PR_SET_PDEATHSIG is
        // unaffected.
        let (ready, inspected) = std::thread::scope(|s| {
            let inspect = lightningd.map(|p| s.spawn(move || LightningdBin::inspect(p)));
            let ready = bitcoind.wait_ready(limit);
            let inspected = inspect
                .map(|h| h.join().expect("lightningd inspection panicked"))
                .transpose();
            (ready, inspected)
        });
        net.bitcoind = Some(bitcoind);
        ready?;
        bins.lightningd = inspected?;

        if let Some(lightningd) = &bins.lightningd {
            let bitcoind = net.bitcoind.as_ref().expect("set above");
            let height = bitcoind.height()?;
            // Spawned here, in the caller's thread: PR_SET_PDEATHSIG is tied
            // to the spawning thread. Only the waiting happens in parallel.
            for i in 1..=self.nodes {
                let name = format!("l{i}");
                let node = Node::spawn(
                    &name,
                    lightningd,
                    bitcoind,
                    &root.join(&name),
                    &self.node_args,
                )?;
                net.nodes.push(node);
            }
            let results: Vec<Result<()>> = std::thread::scope(|s| {
                let handles: Vec<_> = net
                    .nodes
                    .iter()
                    .map(|n| s.spawn(move || n.wait_ready(limit, height)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("readiness thread panicked"))
                    .collect()
            });
            for result in results {
                result?;
            }
        }
        Ok(())
    }
}

/// A running regtest network. Dropping it tears everything down.
pub struct Network {
    nodes: Vec<Node>,
    bitcoind: Option<BitcoinD>,
    dir: Option<TempDir>,
    /// Set until `build` succeeded, so a failed start keeps its logs.
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
    pub fn builder() -> NetworkBuilder {
        NetworkBuilder::default()
    }

    /// bitcoind plus two nodes.
    pub fn start() -> Result<Self> {
        Self::builder().build()
    }

    /// The directory holding every daemon's files.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir exists until drop").path()
    }

    /// Node `i`, counting from 0 (`node(0)` is `l1`).
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn bitcoind(&self) -> &BitcoinD {
        self.bitcoind.as_ref().expect("bitcoind exists until drop")
    }

    /// Mines `n` blocks and waits until every node has processed them.
    pub fn mine(&self, n: u64) -> Result<()> {
        self.bitcoind().mine(n)?;
        let height = self.bitcoind().height()?;
        for node in &self.nodes {
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
        let reply = node.rpc("newaddr", json!({}))?;
        let address = ["bech32", "p2tr"]
            .iter()
            .find_map(|k| reply[*k].as_str())
            .with_context(|| format!("newaddr reply has no address: {reply}"))?;
        let txid = self.bitcoind().send_to(address, sats)?;
        self.mine(1)?;
        let what = format!("{} to see confirmed output of {txid}", node.name());
        wait_until(&what, timeout(), |last| {
            let funds = node.rpc("listfunds", json!({}))?;
            let outputs = funds["outputs"].as_array().cloned().unwrap_or_default();
            *last = format!("listfunds outputs: {}", outputs.len());
            Ok(outputs
                .iter()
                .any(|o| o["txid"] == json!(txid) && o["status"] == json!("confirmed"))
                .then_some(()))
        })
        .map_err(|e| node.explain(e))
    }

    /// Opens a `sats` channel from `a` to `b`: funds `a`'s wallet, connects,
    /// `fundchannel`, mines 6 blocks and waits until both sides list the
    /// channel as `CHANNELD_NORMAL` (`listpeerchannels`, since v23.02).
    /// Returns `fundchannel`'s reply.
    pub fn fund_channel(&self, a: &Node, b: &Node, sats: u64) -> Result<Value> {
        // Enough for the channel plus fees.
        self.fund_wallet(a, sats + 1_000_000)?;
        self.connect(a, b)?;
        let (a_id, b_id) = (a.id()?, b.id()?);
        let funded = a.rpc("fundchannel", json!({"id": b_id, "amount": sats}))?;
        self.mine(6)?;
        for (node, peer) in [(a, &b_id), (b, &a_id)] {
            let what = format!(
                "{}'s channel with {peer} to be CHANNELD_NORMAL",
                node.name()
            );
            wait_until(&what, timeout(), |last| {
                let reply = node.rpc("listpeerchannels", json!({"id": peer}))?;
                let states: Vec<Value> = reply["channels"]
                    .as_array()
                    .map(|cs| cs.iter().map(|c| c["state"].clone()).collect())
                    .unwrap_or_default();
                *last = format!("states {states:?}");
                Ok(states.contains(&json!("CHANNELD_NORMAL")).then_some(()))
            })
            .map_err(|e| node.explain(e))?;
        }
        Ok(funded)
    }

    /// What a failing test prints: where the files are and each log tail.
    fn failure_report(&self) -> String {
        let mut out = format!(
            "\n===== itest: failure; files kept in {} =====\n",
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
            out.push_str(&format!(
                "[{}] lightning-dir {}\n{}\n",
                n.name(),
                n.lightning_dir().display(),
                n.log_tail(TAIL_LINES)
            ));
        }
        out
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let failed = std::thread::panicking() || self.start_failed;
        if failed {
            // libtest captures this and shows it only for failing tests.
            eprintln!("{}", self.failure_report());
        }
        std::thread::scope(|s| {
            for node in &self.nodes {
                s.spawn(move || node.shutdown());
            }
        });
        self.nodes.clear();
        self.bitcoind.take();
        if let Some(dir) = self.dir.take() {
            if failed || keep_dirs() {
                let path = dir.keep();
                eprintln!("itest: kept {}", path.display());
            }
        }
    }
}
