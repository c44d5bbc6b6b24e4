//! One lightningd node on regtest.
//!
//! The command line is built from what the binary at hand supports (its
//! `--version` and `--help`), never from the newest release's defaults:
//! `--developer` breaks nodes before v23.11, and options like
//! `--autoconnect-seeker-peers` exist only in newer releases. A node is
//! ready only when `getinfo` answers without a sync warning.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::binaries::{LightningdBin, Version};
use crate::bitcoind::BitcoinD;
use crate::ports::{self, PortLease};
use crate::process::Daemon;
use crate::rpc::{Rpc, RpcError};
use crate::wait::{timeout, wait_until};

/// A lightningd process with its own lightning-dir and listening port.
pub struct Node {
    name: String,
    // Field order matters for Drop: the process dies before ports are
    // released.
    daemon: Daemon,
    rpc: Rpc,
    port: PortLease,
    _extra_ports: Vec<PortLease>,
    lightning_dir: PathBuf,
    bin: LightningdBin,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("pid", &self.daemon.pid())
            .field("port", &self.port.port())
            .field("lightning_dir", &self.lightning_dir)
            .finish()
    }
}

impl Node {
    /// Spawns `lightningd` for `bitcoind` with its lightning-dir at `dir`
    /// and returns without waiting; see [`Node::wait_ready`]. `extra_args`
    /// are appended to the command line. Call from the thread that will own
    /// the node (see `process`).
    pub fn spawn(
        name: &str,
        bin: &LightningdBin,
        bitcoind: &BitcoinD,
        dir: &Path,
        extra_args: &[String],
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = ports::reserve()?;
        let mut extra_ports = Vec::new();
        let mut cmd = Command::new(&bin.path);
        cmd.arg(format!("--lightning-dir={}", dir.display()))
            .arg("--network=regtest")
            .arg(format!("--alias={name}"))
            .arg(format!("--addr=127.0.0.1:{}", port.port()))
            .arg("--log-level=debug")
            .arg(format!("--log-file={}", dir.join("log").display()))
            .arg(format!("--bitcoin-rpcuser={}", bitcoind.rpc_user()))
            .arg(format!("--bitcoin-rpcpassword={}", bitcoind.rpc_password()))
            .arg(format!("--bitcoin-rpcport={}", bitcoind.rpc_port()))
            .arg("--bitcoin-rpcconnect=127.0.0.1")
            .arg(format!(
                "--bitcoin-datadir={}",
                bitcoind.datadir().display()
            ))
            .arg(format!("--bitcoin-cli={}", bitcoind.cli().display()))
            .arg("--allow-deprecated-apis=false")
            .arg("--disable-dns")
            // A new node starts 30 blocks below the tip by default and
            // fetches them one by one (~12 ms each); its wallet is empty, so
            // there is nothing to find there. pyln-testing uses 1 as well.
            .arg("--rescan=1")
            .args(version_shims(bin))
            .current_dir(dir);
        if bin.has_option("grpc-port") {
            // Newer releases start cln-grpc on a fixed default port, which
            // collides between parallel nodes.
            let grpc = ports::reserve()?;
            cmd.arg(format!("--grpc-port={}", grpc.port()));
            extra_ports.push(grpc);
        }
        cmd.args(extra_args);
        let daemon = Daemon::spawn(name, cmd, dir, dir.join("log"))?;
        let rpc = Rpc::new(&dir.join("regtest").join("lightning-rpc"), timeout())?;
        Ok(Self {
            name: name.to_string(),
            daemon,
            rpc,
            port,
            _extra_ports: extra_ports,
            lightning_dir: dir.to_path_buf(),
            bin: bin.clone(),
        })
    }

    /// Waits until `getinfo` answers with neither `warning_bitcoind_sync`
    /// nor `warning_lightningd_sync`, and with `blockheight` at least
    /// `min_height` (bitcoind's height at spawn time, so a test's first
    /// `mine` starts from a known height). On timeout or early exit the
    /// error names what was awaited and carries the last 30 log lines.
    pub fn wait_ready(&self, timeout: Duration, min_height: u64) -> Result<()> {
        let what = format!(
            "{} to be ready (getinfo without sync warnings, blockheight >= {min_height})",
            self.name
        );
        wait_until(&what, timeout, |last| {
            self.check_alive()?;
            match self
                .rpc
                .call_with_timeout("getinfo", json!({}), Duration::from_secs(5))
            {
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
        })
        .map_err(|e| self.explain(e))
    }

    fn check_alive(&self) -> Result<()> {
        match self.daemon.exited() {
            Some(status) => bail!("{} exited early with {status}", self.name),
            None => Ok(()),
        }
    }

    /// Adds the node's dir and log tail to an error.
    pub fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        anyhow!(
            "{err:#}\n{} lightning-dir: {}\n{}",
            self.name,
            self.lightning_dir.display(),
            self.daemon.log_tail(30)
        )
    }

    /// Calls `method` with `params` (array or object, sent unchanged) and
    /// returns lightningd's result or its error exactly as sent.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.rpc.call(method, params)
    }

    /// [`Node::call`] for when an error is not expected: the error says
    /// which node and call failed.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        let shown = params.to_string();
        self.call(method, params)
            .with_context(|| format!("{}: `{method}` {shown}", self.name))
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
        let mut params = Map::new();
        params.insert("subcommand".into(), json!("start"));
        params.insert("plugin".into(), json!(path.as_ref()));
        for (name, value) in options {
            params.insert((*name).to_string(), json!(value));
        }
        self.call("plugin", Value::Object(params))
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
        wait_until(&what, timeout(), |last| {
            self.check_alive()?;
            let h = self.blockheight()?;
            *last = format!("at height {h}");
            Ok((h >= height).then_some(()))
        })
        .map_err(|e| self.explain(e))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// The port lightningd listens on for peers (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port.port()
    }

    /// The `--lightning-dir` (the base dir; network files are in
    /// `regtest/`).
    pub fn lightning_dir(&self) -> &Path {
        &self.lightning_dir
    }

    pub fn log_path(&self) -> PathBuf {
        self.lightning_dir.join("log")
    }

    pub fn log_tail(&self, n: usize) -> String {
        self.daemon.log_tail(n)
    }

    pub fn version(&self) -> Version {
        self.bin.version
    }

    /// `stop` RPC, a short wait, then SIGKILL for the whole process group.
    pub fn shutdown(&self) {
        if self.daemon.exited().is_none() {
            let _ = self
                .rpc
                .call_with_timeout("stop", json!({}), Duration::from_secs(5));
            self.daemon.wait_exit(Duration::from_secs(10));
        }
        self.daemon.shutdown(Duration::from_secs(1));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Options that depend on the release (see the protocol notes §8.3).
fn version_shims(bin: &LightningdBin) -> Vec<String> {
    let mut args = Vec::new();
    if bin.version >= Version::new(23, 11, 0) {
        // Runtime developer mode exists only from v23.11; before that the
        // dev options need a developer build, which releases are not.
        args.extend(
            ["--developer", "--dev-fast-gossip", "--dev-bitcoind-poll=1"].map(String::from),
        );
    } else if bin.has_option("dev-bitcoind-poll") {
        // A pre-v23.11 developer build.
        args.extend(["--dev-fast-gossip", "--dev-bitcoind-poll=1"].map(String::from));
    }
    if bin.version >= Version::new(24, 11, 0) && bin.has_option("autoconnect-seeker-peers") {
        args.push("--autoconnect-seeker-peers=0".into());
    }
    args
}
