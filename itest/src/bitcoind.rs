//! A regtest bitcoind owned by the test.
//!
//! Runs in the foreground (no `-daemon`), so the pid we hold is bitcoind's
//! and teardown can kill it. It is ready only once its RPC answers, a wallet
//! exists and 101 blocks are mined (so the first coinbase is spendable).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bitcoincore_rpc::{Auth, Client, RpcApi};
use serde_json::{json, Value};

use crate::binaries::Binaries;
use crate::ports::{self, PortLease};
use crate::process::Daemon;
use crate::wait::wait_until;

const RPC_USER: &str = "itest";
const RPC_PASSWORD: &str = "itest";
const WALLET: &str = "itest";

/// A running regtest bitcoind with a funded wallet.
pub struct BitcoinD {
    // Field order matters for Drop: the process dies before the port is
    // released.
    daemon: Daemon,
    rpc_port: PortLease,
    client: Client,
    datadir: PathBuf,
    cli: PathBuf,
    mining_address: String,
}

impl std::fmt::Debug for BitcoinD {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitcoinD")
            .field("pid", &self.daemon.pid())
            .field("rpc_port", &self.rpc_port.port())
            .field("datadir", &self.datadir)
            .finish()
    }
}

impl BitcoinD {
    /// Spawns bitcoind with its datadir at `datadir` (created) and returns
    /// without waiting; see [`BitcoinD::wait_ready`]. Call from the thread
    /// that will own it (see `process`).
    pub fn spawn(bins: &Binaries, datadir: &Path) -> Result<Self> {
        std::fs::create_dir_all(datadir)
            .with_context(|| format!("creating {}", datadir.display()))?;
        let rpc_port = ports::reserve()?;
        let mut cmd = Command::new(&bins.bitcoind);
        cmd.arg("-regtest")
            .arg(format!("-datadir={}", datadir.display()))
            .arg("-server")
            .arg("-listen=0")
            .arg("-txindex")
            .arg("-fallbackfee=0.00001")
            // As in Bitcoin Core's own functional tests: derive keys on
            // demand instead of 1000 per descriptor up front (createwallet
            // 0.4 s -> 15 ms), and no fsync per wallet write (the wallet
            // records every block; mining 101 blocks 0.7 s -> 60 ms). The
            // datadir is thrown away after the test, so durability across a
            // power cut does not matter. Both exist since Core 22.
            .arg("-keypool=1")
            .arg("-unsafesqlitesync")
            .arg("-printtoconsole=0")
            .arg("-rpcbind=127.0.0.1")
            .arg("-rpcallowip=127.0.0.1")
            .arg(format!("-rpcport={}", rpc_port.port()))
            .arg(format!("-rpcuser={RPC_USER}"))
            .arg(format!("-rpcpassword={RPC_PASSWORD}"));
        let log = datadir.join("regtest").join("debug.log");
        let parent = datadir.parent().unwrap_or(datadir);
        let daemon = Daemon::spawn("bitcoind", cmd, parent, log)?;
        let client = Client::new(
            &format!("http://127.0.0.1:{}", rpc_port.port()),
            Auth::UserPass(RPC_USER.into(), RPC_PASSWORD.into()),
        )
        .context("creating bitcoind RPC client")?;
        Ok(Self {
            daemon,
            rpc_port,
            client,
            datadir: datadir.to_path_buf(),
            cli: bins.bitcoin_cli.clone(),
            mining_address: String::new(),
        })
    }

    /// Waits until the RPC answers, then creates the wallet and mines 101
    /// blocks. Fails with the log tail on timeout or early exit.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        self.wait_rpc(timeout).map_err(|e| self.explain(e))?;
        self.rpc("createwallet", json!([WALLET]))
            .map_err(|e| self.explain(e))?;
        self.mining_address = self.new_address()?;
        self.mine(101)?;
        Ok(())
    }

    fn wait_rpc(&self, timeout: Duration) -> Result<()> {
        wait_until(
            "bitcoind RPC (getblockchaininfo) to answer",
            timeout,
            |last| {
                if let Some(status) = self.daemon.exited() {
                    bail!("bitcoind exited early with {status}");
                }
                match self.client.call::<Value>("getblockchaininfo", &[]) {
                    Ok(_) => Ok(Some(())),
                    Err(e) => {
                        *last = e.to_string();
                        Ok(None)
                    }
                }
            },
        )
    }

    /// Adds what the datadir and log say to an error.
    fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        anyhow!(
            "{err:#}\nbitcoind datadir: {}\n{}",
            self.datadir.display(),
            self.daemon.log_tail(30)
        )
    }

    /// Raw RPC call (positional params as a JSON array). Raw on purpose:
    /// bitcoincore-rpc's typed responses predate bitcoind 28.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        let params = match params {
            Value::Array(a) => a,
            Value::Null => vec![],
            other => bail!("bitcoind params must be an array, got {other}"),
        };
        self.client
            .call::<Value>(method, &params)
            .with_context(|| format!("bitcoind RPC {method} {}", Value::Array(params.clone())))
    }

    /// Mines `n` blocks to the harness wallet; returns their hashes.
    pub fn mine(&self, n: u64) -> Result<Vec<String>> {
        let hashes = self.rpc("generatetoaddress", json!([n, self.mining_address]))?;
        serde_json::from_value(hashes).context("parsing generatetoaddress reply")
    }

    pub fn height(&self) -> Result<u64> {
        self.rpc("getblockcount", json!([]))?
            .as_u64()
            .context("getblockcount did not return a number")
    }

    /// Confirmed ("trusted") wallet balance in satoshis.
    pub fn balance_sats(&self) -> Result<u64> {
        let btc = self.rpc("getbalance", json!([]))?;
        let btc = btc.as_f64().context("getbalance did not return a number")?;
        Ok((btc * 100_000_000.0).round() as u64)
    }

    pub fn new_address(&self) -> Result<String> {
        let addr = self.rpc("getnewaddress", json!([]))?;
        addr.as_str()
            .map(str::to_string)
            .context("getnewaddress did not return a string")
    }

    /// Sends `sats` from the harness wallet; returns the txid.
    pub fn send_to(&self, address: &str, sats: u64) -> Result<String> {
        // Amount as a decimal string: exact, no float rounding.
        let amount = format!("{}.{:08}", sats / 100_000_000, sats % 100_000_000);
        let txid = self.rpc("sendtoaddress", json!([address, amount]))?;
        txid.as_str()
            .map(str::to_string)
            .context("sendtoaddress did not return a txid")
    }

    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    pub fn rpc_port(&self) -> u16 {
        self.rpc_port.port()
    }

    pub fn rpc_user(&self) -> &str {
        RPC_USER
    }

    pub fn rpc_password(&self) -> &str {
        RPC_PASSWORD
    }

    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The bitcoin-cli lightningd should use.
    pub fn cli(&self) -> &Path {
        &self.cli
    }

    pub fn log_tail(&self, n: usize) -> String {
        self.daemon.log_tail(n)
    }

    /// Asks bitcoind to stop, then kills what is left.
    pub fn shutdown(&self) {
        if self.daemon.exited().is_none() {
            let _ = self.client.call::<Value>("stop", &[]);
            self.daemon.wait_exit(Duration::from_secs(10));
        }
        self.daemon.shutdown(Duration::from_secs(2));
    }
}

impl Drop for BitcoinD {
    fn drop(&mut self) {
        self.shutdown();
    }
}
