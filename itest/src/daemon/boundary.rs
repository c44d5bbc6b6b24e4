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
    /// On this machine, run it as this user and group id instead of the
    /// test process's (PostgreSQL refuses to run as root). Containers
    /// ignore it.
    pub run_as: Option<(u32, u32)>,
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
            run_as: None,
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

/// How a daemon's process ended: its exit code or the signal that killed
/// it, as numbers, plus the backend's own words for people.
///
/// Natively these are the process's wait status. In a container, the
/// engine reports a process killed by signal N as exit code 128 + N; that
/// is decoded back, so [`ExitStatus::signal`] means the same on both
/// backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitStatus {
    code: Option<i32>,
    signal: Option<i32>,
    clean: bool,
    text: String,
}

impl ExitStatus {
    /// The exit code, if the process exited by itself (`exit(code)`).
    pub fn code(&self) -> Option<i32> {
        self.code
    }

    /// The signal that killed the process, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.signal
    }

    /// Whether it exited by itself with code 0 (and, in a container, the
    /// engine reports nothing wrong).
    pub fn success(&self) -> bool {
        self.clean
    }

    /// A local process's status.
    pub(crate) fn from_std(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            code: status.code(),
            signal: status.signal(),
            clean: status.success(),
            text: status.to_string(),
        }
    }

    /// A container's: the engine's exit code, whether the engine saw
    /// anything else wrong (out of memory, its own error), and its words.
    pub(crate) fn from_engine(code: i64, trouble: bool, text: String) -> Self {
        let code = i32::try_from(code).unwrap_or(-1);
        let signal = (129..=128 + 64).contains(&code).then(|| code - 128);
        Self {
            code: if signal.is_some() { None } else { Some(code) },
            signal,
            clean: code == 0 && !trouble,
            text,
        }
    }

    /// An end the backend could not read (a container removed behind the
    /// harness's back): neither a code nor a signal, and not clean.
    pub(crate) fn unknown(text: String) -> Self {
        Self {
            code: None,
            signal: None,
            clean: false,
            text,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A started daemon. Dropping it must stop it (and everything it forked).
pub(crate) trait Daemon: Send + Sync + fmt::Debug {
    /// The process id, where there is one on this machine.
    fn pid(&self) -> Option<u32>;
    /// How it ended, if it has.
    fn exited(&self) -> Option<ExitStatus>;
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
    /// Brings the directory `dir` (a path the daemon writes to) up to
    /// date on this machine: nothing to do where paths are shared, a copy
    /// back from a container that shares nothing (traced plugins' traces).
    fn fetch_dir(&self, _dir: &Path) -> Result<(), String> {
        Ok(())
    }
}

/// Starts daemons.
pub(crate) trait Launcher: Send + Sync + fmt::Debug {
    fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>>;
}

/// Checks `exited` every `every` until it is true or `timeout` has passed;
/// whether it became true. What every backend's `wait_exit` does.
pub(crate) fn poll_exit(
    timeout: Duration,
    every: Duration,
    mut exited: impl FnMut() -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if exited() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn exit_codes_and_signals_are_numbers_on_both_backends() {
        let exited = ExitStatus::from_std(std::process::ExitStatus::from_raw(1 << 8));
        assert_eq!(
            (exited.code(), exited.signal(), exited.success()),
            (Some(1), None, false)
        );
        assert_eq!(exited.to_string(), "exit status: 1");
        let killed = ExitStatus::from_std(std::process::ExitStatus::from_raw(9));
        assert_eq!((killed.code(), killed.signal()), (None, Some(9)));
        // The engine reports a process killed by signal N as 128 + N.
        let container =
            ExitStatus::from_engine(137, false, "container x exited with code 137".into());
        assert_eq!((container.code(), container.signal()), (None, Some(9)));
        assert_eq!(container.to_string(), "container x exited with code 137");
        let clean = ExitStatus::from_engine(0, false, String::new());
        assert!(clean.success() && clean.code() == Some(0));
        let oom = ExitStatus::from_engine(0, true, String::new());
        assert!(!oom.success());
    }
}
