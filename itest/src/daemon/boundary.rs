//! The boundary between "what a daemon is" and "how it runs".
//!
//! `BitcoinD` and `Node` describe the daemon they want as a [`DaemonSpec`]
//! and get back a [`Daemon`] they can watch and stop. They never touch
//! processes or containers themselves: a backend implements [`Launcher`]
//! and [`Daemon`] (`native`, `docker`), and `placement` picks one.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
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
}

/// Starts daemons.
pub(crate) trait Launcher: Send + Sync + fmt::Debug {
    fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>>;
}
