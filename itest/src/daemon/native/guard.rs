//! How a native daemon dies with the test process when `Drop` cannot run.
//!
//! Teardown (`Drop`, also while a test panics) kills each daemon's whole
//! process group. A test process killed by SIGKILL (a CI timeout, a
//! developer's `kill -9`, nextest's slow-test kill) runs no code at all, so
//! something outside it has to notice. There are two ways, one per
//! [`OrphanGuard`] variant:
//!
//! - **Parent death signal** (Linux only, its default there):
//!   `PR_SET_PDEATHSIG` makes the kernel SIGKILL the daemon when the thread
//!   that forked it exits. Every daemon is forked by the harness's spawner
//!   thread (`runtime`), which lives as long as the process, so this fires
//!   exactly when the test process dies. It kills the daemon only; what
//!   the daemon forked (lightningd's subdaemons and plugins) sees its
//!   parent's pipes close and exits by itself.
//! - **Supervisor** (every Unix, the default where `PR_SET_PDEATHSIG` does
//!   not exist): the daemon's process group is led by a tiny `/bin/sh`
//!   that blocks reading a pipe whose only writer is the test process. When
//!   that process ends, however it ends, the kernel closes the write end,
//!   `read` returns, and the shell SIGKILLs its whole process group: the
//!   daemon and everything it forked. The shell is started before the
//!   daemon, so there is no moment at which a daemon runs unguarded.
//!
//! What the supervisor does not cover, and the parent death signal does:
//! someone killing the supervisor shell itself leaves its daemon
//! unguarded (teardown still kills the group). And on systems without
//! `pipe2` (macOS), the close-on-exec flag of the pipe's write end is set
//! just after the pipe is created: a process forked by *another* thread of
//! the test process in that instant keeps the pipe open, and the guard
//! fires only once that process has exited too. Daemons themselves are
//! all forked by the spawner thread, one after another, so they never hold
//! another daemon's pipe.

use std::fmt;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;

use anyhow::{Context, Result};

/// The environment variable that sets the default of
/// [`Conf::orphan_guard`](crate::Conf::orphan_guard).
pub const ORPHAN_GUARD_VAR: &str = "ITEST_ORPHAN_GUARD";

/// How a native daemon is made to die with the test process when the
/// harness's own teardown cannot run (the test process was SIGKILLed).
/// Only the native backend uses it; a container is removed by its sidecar.
///
/// ```
/// use cln_itest::{Conf, OrphanGuard};
///
/// let mut conf = Conf::with_nodes(0);
/// conf.orphan_guard = OrphanGuard::Supervisor; // works on every Unix
/// assert_eq!("supervisor".parse::<OrphanGuard>(), Ok(OrphanGuard::Supervisor));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OrphanGuard {
    /// Linux's `PR_SET_PDEATHSIG`: the kernel kills the daemon when the
    /// test process dies. The default on Linux; elsewhere starting a
    /// daemon with it fails and says to use [`OrphanGuard::Supervisor`].
    /// (`parent-death-signal` in `ITEST_ORPHAN_GUARD`.)
    ParentDeathSignal,
    /// A `/bin/sh` per daemon leads the daemon's process group and kills
    /// the group when a pipe from the test process closes. Works on every
    /// Unix; the default where `PR_SET_PDEATHSIG` does not exist.
    /// (`supervisor` in `ITEST_ORPHAN_GUARD`.)
    Supervisor,
}

impl OrphanGuard {
    /// The guard this platform uses unless told otherwise:
    /// [`ParentDeathSignal`](OrphanGuard::ParentDeathSignal) on Linux,
    /// [`Supervisor`](OrphanGuard::Supervisor) elsewhere.
    pub fn platform_default() -> Self {
        if cfg!(target_os = "linux") {
            Self::ParentDeathSignal
        } else {
            Self::Supervisor
        }
    }

    /// `ITEST_ORPHAN_GUARD` if set (and not empty), else
    /// [`OrphanGuard::platform_default`]; an unknown value is an error
    /// naming the valid ones.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(ORPHAN_GUARD_VAR) {
            Ok(v) if !v.trim().is_empty() => v
                .parse()
                .map_err(|e: ParseOrphanGuardError| format!("{ORPHAN_GUARD_VAR}: {e}")),
            _ => Ok(Self::platform_default()),
        }
    }

    /// Whether this platform has this guard.
    pub fn is_available(self) -> bool {
        match self {
            Self::ParentDeathSignal => cfg!(target_os = "linux"),
            Self::Supervisor => true,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::ParentDeathSignal => "parent-death-signal",
            Self::Supervisor => "supervisor",
        }
    }
}

impl Default for OrphanGuard {
    fn default() -> Self {
        Self::platform_default()
    }
}

impl fmt::Display for OrphanGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no [`OrphanGuard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOrphanGuardError(String);

impl fmt::Display for ParseOrphanGuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown orphan guard {:?}: use `supervisor` or `parent-death-signal` (Linux only)",
            self.0
        )
    }
}

impl std::error::Error for ParseOrphanGuardError {}

impl FromStr for OrphanGuard {
    type Err = ParseOrphanGuardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "parent-death-signal" | "pdeathsig" => Ok(Self::ParentDeathSignal),
            "supervisor" => Ok(Self::Supervisor),
            _ => Err(ParseOrphanGuardError(s.to_string())),
        }
    }
}

/// Makes the kernel SIGKILL the child of `cmd` when the forking thread (the
/// spawner thread, which lives as long as the process) exits.
#[cfg(target_os = "linux")]
pub(crate) fn arm_parent_death_signal(cmd: &mut Command) -> Result<()> {
    use std::os::unix::process::CommandExt;

    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only calls
    // async-signal-safe functions (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    Ok(())
}

/// `PR_SET_PDEATHSIG` is Linux's; say what to use instead.
#[cfg(not(target_os = "linux"))]
pub(crate) fn arm_parent_death_signal(_cmd: &mut Command) -> Result<()> {
    anyhow::bail!(
        "OrphanGuard::ParentDeathSignal needs Linux's PR_SET_PDEATHSIG, which {} does not have: \
         use OrphanGuard::Supervisor (the default here; unset {ORPHAN_GUARD_VAR} or set it to `supervisor`)",
        std::env::consts::OS
    )
}

/// The shell that leads a daemon's process group (see the module docs).
/// `read` returns only at end of file: nobody ever writes to the pipe.
/// `kill 0` signals the shell's own process group, itself included.
const SUPERVISOR_SCRIPT: &str = "read -r _; kill -KILL 0";

/// A running supervisor: the leader of one daemon's process group.
#[derive(Debug)]
pub(crate) struct Supervisor {
    /// Its stdin is the pipe's write end, held by no other process.
    shell: Child,
}

impl Supervisor {
    /// Starts a supervisor, in a new process group of its own, for the
    /// daemon `name` (shown in `ps` as the shell's `$0`).
    pub(crate) fn start(name: &str) -> Result<Self> {
        use std::os::unix::process::CommandExt;

        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", SUPERVISOR_SCRIPT])
            .arg(format!("itest-guard-{name}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let shell = crate::runtime::spawn(cmd)
            .with_context(|| format!("starting the orphan guard of {name} (/bin/sh)"))?;
        Ok(Self { shell })
    }

    /// The process group the daemon joins: the shell's pid.
    pub(crate) fn group(&self) -> libc::pid_t {
        self.shell.id() as libc::pid_t
    }

    /// Reaps the shell after its group was killed.
    pub(crate) fn reap(&mut self) {
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }

    /// Closes the pipe as the test process's death would.
    #[cfg(test)]
    pub(crate) fn cut_lifeline(&mut self) {
        drop(self.shell.stdin.take());
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_ones_list_the_valid_ones() {
        for guard in [OrphanGuard::ParentDeathSignal, OrphanGuard::Supervisor] {
            assert_eq!(guard.to_string().parse::<OrphanGuard>(), Ok(guard));
        }
        assert_eq!(" PDEATHSIG ".parse(), Ok(OrphanGuard::ParentDeathSignal));
        let err = "pipe".parse::<OrphanGuard>().unwrap_err().to_string();
        assert!(
            err.contains("\"pipe\"")
                && err.contains("supervisor")
                && err.contains("parent-death-signal"),
            "{err}"
        );
    }

    #[test]
    fn the_platform_default_is_available_here() {
        assert!(OrphanGuard::platform_default().is_available());
        assert!(OrphanGuard::Supervisor.is_available());
        assert_eq!(
            OrphanGuard::ParentDeathSignal.is_available(),
            cfg!(target_os = "linux")
        );
    }
}
