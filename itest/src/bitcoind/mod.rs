//! A regtest bitcoind owned by the network.
//!
//! Runs in the foreground (no `-daemon`), so the daemon handle is
//! bitcoind's own and teardown can kill it. It is ready once its RPC
//! answers, a wallet exists and [`Conf::initial_blocks`] are mined.

mod reorg;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{bail, Context, Error, FromInternal, Result};
use bitcoincore_rpc::{Auth, Client, RpcApi};
use serde_json::{json, Value};

use crate::conf::Conf;
use crate::daemon::boundary::{Daemon, DaemonSpec, Side};
use crate::daemon::placement::{Listener, Placement, Service};
use crate::probe::lookup::BITCOIND;
use crate::timeline::Timeline;
use crate::wait::wait_until;

const WALLET: &str = "itest";

/// A running regtest bitcoind with a funded wallet.
pub struct BitcoinD {
    // Field order matters for Drop: the process dies before the port is
    // released.
    daemon: Box<dyn Daemon>,
    /// Keeps the RPC port reserved while bitcoind runs.
    _rpc: Listener,
    /// Where this machine reaches the RPC.
    rpc_address: (String, u16),
    client: Client,
    datadir: PathBuf,
    rpc_user: String,
    rpc_password: String,
    /// Set once the wallet exists ([`BitcoinD::wait_ready`]); a `OnceLock`
    /// so that readiness can be awaited through a shared reference while
    /// the nodes start.
    mining_address: OnceLock<String>,
}

impl std::fmt::Debug for BitcoinD {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitcoinD")
            .field("daemon", &self.daemon)
            .field("rpc", &self.rpc_address)
            .field("datadir", &self.datadir)
            .finish()
    }
}

impl BitcoinD {
    /// The bitcoind program `placement` runs for `conf` (fails with what to
    /// do when it is missing).
    pub(crate) fn program(conf: &Conf, placement: &Placement) -> Result<PathBuf> {
        placement
            .program(BITCOIND, conf.bitcoind.as_deref(), None)
            .internal()
    }

    /// Launches `bitcoind` where `placement` says, with its datadir at
    /// `datadir` (created), for RPC clients on `clients`, and returns
    /// without waiting; see [`BitcoinD::wait_ready`].
    pub(crate) fn launch(
        conf: &Conf,
        placement: &Placement,
        bitcoind: &Path,
        datadir: &Path,
        clients: Side,
    ) -> Result<Self> {
        std::fs::create_dir_all(datadir)
            .with_context(|| format!("creating {}", datadir.display()))?;
        let rpc = placement
            .listener(Service::BitcoindRpc, clients)
            .internal()?;
        let mut args = shared_options();
        args.extend([
            format!("-datadir={}", datadir.display()),
            format!("-rpcport={}", rpc.port),
            format!("-rpcuser={}", conf.rpc_user),
            format!("-rpcpassword={}", conf.rpc_password),
        ]);
        if placement.logs_to_stdout() {
            args.extend(["-printtoconsole=1".into(), "-nodebuglogfile".into()]);
        } else {
            args.push("-printtoconsole=0".into());
        }
        args.extend(rpc.binds.iter().map(|b| format!("-rpcbind={b}")));
        args.extend(rpc.allow.iter().map(|a| format!("-rpcallowip={a}")));
        args.extend(policy_args(placement, bitcoind));
        args.extend(conf.bitcoind_args.iter().cloned());
        let mut spec = DaemonSpec::new(
            "bitcoind",
            bitcoind.to_path_buf(),
            args.into_iter().map(OsString::from).collect(),
            datadir.parent().unwrap_or(datadir).to_path_buf(),
            datadir.join("regtest").join("debug.log"),
        );
        spec.state = Some(datadir.to_path_buf());
        spec.ports = vec![rpc.port];
        let daemon = placement.launch(&spec).internal()?;
        let rpc_address = placement
            .reach(&*daemon, rpc.port, Side::ThisMachine)
            .internal()?;
        let client = Client::new(
            &format!("http://{}:{}", rpc_address.0, rpc_address.1),
            Auth::UserPass(conf.rpc_user.clone(), conf.rpc_password.clone()),
        )
        .context("creating bitcoind RPC client")?;
        Ok(Self {
            daemon,
            _rpc: rpc,
            rpc_address,
            client,
            datadir: datadir.to_path_buf(),
            rpc_user: conf.rpc_user.clone(),
            rpc_password: conf.rpc_password.clone(),
            mining_address: OnceLock::new(),
        })
    }

    /// Waits until the RPC answers, then creates the wallet and mines
    /// `blocks`, recording each step on `timeline`. Fails with the log
    /// tail on timeout or early exit.
    pub(crate) fn wait_ready(
        &self,
        timeout: Duration,
        blocks: u64,
        timeline: &Timeline,
    ) -> Result<()> {
        timeline
            .time("bitcoind: RPC answers", || self.wait_rpc(timeout))
            .map_err(|e| self.explain(e))?;
        let address = timeline.time("bitcoind: wallet created", || {
            self.rpc("createwallet", json!([WALLET]))
                .map_err(|e| self.explain(e))?;
            self.new_address()
        })?;
        let _ = self.mining_address.set(address);
        if blocks > 0 {
            timeline.time(format!("bitcoind: {blocks} blocks mined"), || {
                self.mine(blocks)
            })?;
        }
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
    fn explain(&self, err: Error) -> Error {
        err.note(format!(
            "bitcoind datadir: {}\n{}",
            self.datadir.display(),
            self.daemon.log_tail(30)
        ))
    }

    /// The typed `bitcoincore-rpc` client (wallet RPCs need the wallet in
    /// the URL; use [`BitcoinD::rpc`] or `-rpcwallet` semantics for those if
    /// several wallets exist).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Raw RPC call (positional params as a JSON array). Raw on purpose:
    /// bitcoincore-rpc's typed responses predate recent bitcoind releases.
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
        let Some(address) = self.mining_address.get() else {
            bail!("bitcoind is not ready yet: its wallet has no mining address");
        };
        let hashes = self.rpc("generatetoaddress", json!([n, address]))?;
        serde_json::from_value(hashes).context("parsing generatetoaddress reply")
    }

    /// The chain height.
    pub fn height(&self) -> Result<u64> {
        self.rpc("getblockcount", json!([]))?
            .as_u64()
            .context("getblockcount did not return a number")
    }

    /// The txids in the mempool.
    pub(crate) fn mempool(&self) -> Result<Vec<String>> {
        let reply: Value = self.rpc("getrawmempool", json!([]))?;
        serde_json::from_value(reply.clone())
            .with_context(|| format!("getrawmempool returned no txid list: {reply}"))
    }

    /// Confirmed ("trusted") wallet balance in satoshis.
    pub fn balance_sats(&self) -> Result<u64> {
        let btc = self.rpc("getbalance", json!([]))?;
        let btc = btc.as_f64().context("getbalance did not return a number")?;
        Ok((btc * 100_000_000.0).round() as u64)
    }

    /// A fresh address of the harness wallet.
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

    /// The process id, when bitcoind runs as a process of this machine (a
    /// container of an engine on this machine too).
    pub fn pid(&self) -> Option<u32> {
        self.daemon.pid()
    }

    /// The port this machine reaches bitcoind's RPC at, on
    /// [`BitcoinD::rpc_host`].
    pub fn rpc_port(&self) -> u16 {
        self.rpc_address.1
    }

    /// The address this machine reaches bitcoind's RPC at: `127.0.0.1`,
    /// except for a container that shares no network with this machine
    /// (`DockerMode::Isolated`), whose port the engine publishes on its own
    /// host's address.
    pub fn rpc_host(&self) -> &str {
        &self.rpc_address.0
    }

    /// Where this process reaches bitcoind's RPC, `host:port` (each node's
    /// bitcoind proxy forwards there).
    pub fn rpc_addr(&self) -> String {
        format!("{}:{}", self.rpc_host(), self.rpc_port())
    }

    /// RPC user name ([`Conf::rpc_user`]).
    pub fn rpc_user(&self) -> &str {
        &self.rpc_user
    }

    /// RPC password ([`Conf::rpc_password`]).
    pub fn rpc_password(&self) -> &str {
        &self.rpc_password
    }

    /// The `-datadir`.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The last `n` lines of its log (and stderr/stdout, if any).
    pub fn log_tail(&self, n: usize) -> String {
        self.daemon.log_tail(n)
    }

    /// Asks bitcoind to stop, then kills what is left.
    pub(crate) fn shutdown(&self) {
        if self.daemon.exited().is_none() {
            let _ = self.client.call::<Value>("stop", &[]);
            self.daemon.wait_exit(Duration::from_secs(10));
        }
        self.daemon.kill(Duration::from_secs(2));
    }
}

impl Drop for BitcoinD {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The options the harness gives every bitcoind, besides its datadir,
/// RPC port and credentials, logging and the policy options of
/// [`bitcoind_regtest_options`].
fn shared_options() -> Vec<String> {
    [
        "-regtest",
        "-server",
        "-listen=0",
        "-txindex",
        "-fallbackfee=0.00001",
        // As in Bitcoin Core's own functional tests: derive keys on demand
        // instead of 1000 per descriptor up front (createwallet 0.4 s ->
        // 15 ms), and no fsync per wallet write (mining 101 blocks 0.7 s ->
        // 60 ms). The datadir is thrown away after the test. Both exist
        // since Core 22.
        "-keypool=1",
        "-unsafesqlitesync",
    ]
    .map(String::from)
    .to_vec()
}

/// The options every harness bitcoind of the program at `bitcoind` gets,
/// besides those naming its datadir, RPC port, credentials and logging:
/// regtest, no P2P, `-txindex`, a fallback fee, one key at a time and no
/// wallet fsync, and the policy options that bitcoind needs (Knots'
/// `-rejectparasites=0`). For starting the same bitcoind by hand.
pub fn bitcoind_regtest_options(bitcoind: &Path) -> Vec<String> {
    let mut args = shared_options();
    args.extend(policy_args(&Placement::native(), bitcoind));
    args
}

/// Policy options for bitcoind that depend on which bitcoind it is.
///
/// Bitcoin Knots (what Debian packages) refuses to relay or mine
/// transactions it takes for "parasitic" protocols, and one of its rules
/// is `nLockTime == 21`. lightningd's anti-fee-sniping sometimes sets a
/// funding transaction's locktime a random number of blocks back, which
/// on a young regtest chain lands on 21 often enough to fail a test now
/// and then. Bitcoin Core rejects the option as unknown, so it is given
/// only to Knots.
fn policy_args(placement: &Placement, bitcoind: &Path) -> Vec<String> {
    // A failed probe means bitcoind itself will fail to start, and that
    // error, with its log, says more than this one could.
    let version = placement
        .capture(bitcoind, &["-version"])
        .unwrap_or_default();
    if version.contains("Knots") {
        vec!["-rejectparasites=0".into()]
    } else {
        Vec::new()
    }
}
