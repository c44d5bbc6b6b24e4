//! The boundary between "what a daemon is" and "how it runs".
//!
//! `BitcoinD` and `Node` describe the daemon they want as a [`DaemonSpec`]
//! and get back a [`Daemon`] they can watch and stop. They never touch
//! processes or containers themselves: a backend implements [`Launcher`]
//! and [`Daemon`] (`native`, `docker`), and `placement` picks one.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

/// Everything needed to start one daemon.
#[derive(Debug, Clone)]
pub(crate) struct DaemonSpec {
    /// Short name used in messages and file names (`bitcoind`, `l1`).
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Working directory; stdout/stderr files go here too.
    pub dir: PathBuf,
    /// The daemon's own log file, shown first in failure reports.
    pub log: PathBuf,
    /// Extra environment variables (the rest is inherited).
    pub env: Vec<(OsString, OsString)>,
    /// Files of this machine it reads, named by absolute path in its
    /// arguments (startup plugins, libfaketime). Where it shares no paths
    /// with this machine, each is copied in at the same path before it
    /// starts.
    pub inputs: Vec<PathBuf>,
    /// Directories its arguments name that must exist where it runs
    /// (bitcoin-cli's `-datadir`): created empty where it shares no paths.
    pub dirs: Vec<PathBuf>,
    /// The directory it keeps its state in (datadir, lightning-dir).
    /// Where it shares no paths, that directory lives apart from this
    /// machine and outlives the daemon, so a restart finds its state.
    pub state: Option<PathBuf>,
    /// Copy [`DaemonSpec::state`] back to this machine when the daemon
    /// stops, where it lives apart (what the teardown checks read, and
    /// what a kept directory should show).
    pub fetch_state: bool,
    /// TCP ports it listens on, as its arguments bind them. Where it has a
    /// network of its own, each is published for this machine.
    pub ports: Vec<u16>,
    /// A unix socket it creates for the test to connect to (lightningd's
    /// RPC). Where it shares no paths, the socket is forwarded to the same
    /// path on this machine.
    pub socket: Option<PathBuf>,
}

impl DaemonSpec {
    /// A spec with nothing but the essentials; the rest empty.
    pub fn new(
        name: &str,
        program: PathBuf,
        args: Vec<OsString>,
        dir: PathBuf,
        log: PathBuf,
    ) -> Self {
        Self {
            name: name.to_string(),
            program,
            args,
            dir,
            log,
            env: Vec::new(),
            inputs: Vec::new(),
            dirs: Vec::new(),
            state: None,
            fetch_state: false,
            ports: Vec::new(),
            socket: None,
        }
    }
}

/// Who connects to a daemon's TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The test process, or another daemon running on this machine.
    ThisMachine,
    /// A daemon in a container on the network's own container network.
    ContainerNetwork,
}

/// How a daemon ended. Backends word it differently (std's `exit status:
/// 1`, a container's exit code), so whether it was clean is kept apart
/// from the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    /// It exited by itself with status 0.
    pub clean: bool,
    /// How, for people: `exit status: 1`, `signal: 9 (SIGKILL)`, ...
    pub how: String,
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.how)
    }
}

/// A started daemon. Dropping it must stop it (and everything it forked).
pub(crate) trait Daemon: Send + Sync + fmt::Debug {
    /// The process id, where there is one on this machine.
    fn pid(&self) -> Option<u32>;
    /// How it ended, if it has.
    fn exited(&self) -> Option<Ended>;
    /// Polls until it has exited or `timeout` passed; true if it exited.
    fn wait_exit(&self, timeout: Duration) -> bool;
    /// Asks it to stop, waits up to `grace`, then kills it and whatever it
    /// forked. Idempotent.
    fn kill(&self, grace: Duration);
    /// The last `n` lines of each of its non-empty logs, labelled.
    fn log_tail(&self, n: usize) -> String;
    /// Where `from` connects to reach its TCP `port` (a port of
    /// [`DaemonSpec::ports`], as the daemon binds it), as `(host, port)`;
    /// `None` when the daemon itself cannot say (a daemon of this machine,
    /// seen from a container network: the placement knows the way).
    fn address(&self, port: u16, from: Side) -> Option<(String, u16)>;
    /// Makes the file at `path` of this machine readable by the running
    /// daemon at the same path: nothing to do natively, a visibility check
    /// where paths are bind-mounted, a copy where nothing is shared. The
    /// error says why it cannot, and what to do.
    fn provide(&self, path: &Path) -> Result<(), String>;
}

/// Starts daemons.
pub(crate) trait Launcher: Send + Sync + fmt::Debug {
    fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>>;
}
