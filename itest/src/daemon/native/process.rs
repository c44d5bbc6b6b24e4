//! Daemons as local processes that cannot outlive the test process.
//!
//! Each daemon leads its own process group, which also holds whatever it
//! forks (lightningd's subdaemons and plugins, bitcoin-cli calls), and
//! teardown kills the whole group. Three layers make sure nothing is
//! orphaned:
//! 1. `Drop` (also while a test panics): the owner's graceful stop, a short
//!    wait, then SIGKILL to the whole group;
//! 2. `PR_SET_PDEATHSIG`: the kernel kills the daemon when the thread that
//!    forked it exits. Every daemon is forked by the harness's spawner
//!    thread (`runtime`), which lives as long as the process, so this
//!    fires exactly when the test process dies, even by SIGKILL, and never
//!    because a tokio blocking-pool thread was retired;
//! 3. the daemon's stdin is `/dev/null`, so nothing waits on us.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::daemon::boundary::{Daemon, DaemonSpec, Ended, Side};
use crate::logs::tails::labelled_tails;

/// A running child process, killed with its process group on drop.
#[derive(Debug)]
pub(crate) struct LocalProcess {
    name: String,
    pid: i32,
    child: Mutex<Child>,
    /// Files whose tails explain a failure, most useful first.
    logs: Vec<PathBuf>,
}

impl LocalProcess {
    /// Spawns `spec` in a new process group, stdout and stderr appended to
    /// `<dir>/<name>.stdout` and `<dir>/<name>.stderr`.
    pub(crate) fn spawn(spec: &DaemonSpec) -> Result<Self> {
        let stdout = spec.dir.join(format!("{}.stdout", spec.name));
        let stderr = spec.dir.join(format!("{}.stderr", spec.name));
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("creating {}", p.display()))
        };
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.dir)
            .stdin(Stdio::null())
            .stdout(open(&stdout)?)
            .stderr(open(&stderr)?)
            .process_group(0);
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
        let child =
            crate::runtime::spawn(cmd).with_context(|| format!("starting {}", spec.name))?;
        Ok(Self {
            name: spec.name.clone(),
            pid: child.id() as i32,
            child: Mutex::new(child),
            logs: vec![spec.log.clone(), stderr, stdout],
        })
    }

    fn try_exit(&self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child.try_wait().ok().flatten()
    }
}

impl Daemon for LocalProcess {
    fn pid(&self) -> Option<u32> {
        Some(self.pid as u32)
    }

    fn exited(&self) -> Option<Ended> {
        self.try_exit().map(|s| Ended {
            clean: s.success(),
            how: s.to_string(),
        })
    }

    fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.try_exit().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&self, grace: Duration) {
        if self.try_exit().is_none() {
            // SAFETY: plain syscall on a pid we own (not yet reaped).
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            self.wait_exit(grace);
        }
        // Leftovers (plugins, bitcoin-cli) stay in the group even after the
        // leader exited.
        // SAFETY: plain syscall; ESRCH when the group is already empty.
        unsafe { libc::killpg(self.pid, libc::SIGKILL) };
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    fn log_tail(&self, n: usize) -> String {
        labelled_tails(&self.name, &self.logs, n)
    }

    /// A process of this machine listens on this machine's loopback.
    fn address(&self, port: u16, from: Side) -> Option<(String, u16)> {
        (from == Side::ThisMachine).then(|| ("127.0.0.1".to_string(), port))
    }

    /// It sees every path of this machine.
    fn provide(&self, _path: &Path) -> Result<(), String> {
        Ok(())
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        self.kill(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::native::liveness::pid_alive;

    fn shell(dir: &Path, script: &str) -> LocalProcess {
        LocalProcess::spawn(&DaemonSpec::new(
            "sh",
            "sh".into(),
            vec!["-c".into(), script.into()],
            dir.to_path_buf(),
            dir.join("none"),
        ))
        .unwrap()
    }

    fn read_pid(file: &Path) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = std::fs::read_to_string(file) {
                if let Ok(pid) = s.trim().parse() {
                    return pid;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} never written",
                file.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_dead(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        !pid_alive(pid)
    }

    #[test]
    fn kill_takes_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        // The shell ignores SIGTERM and leaves a grandchild behind.
        let daemon = shell(
            dir.path(),
            "trap '' TERM; sleep 300 & echo $! > grandchild; wait",
        );
        let grandchild = read_pid(&dir.path().join("grandchild"));
        let pid = daemon.pid().unwrap();
        daemon.kill(Duration::from_millis(200));
        drop(daemon);
        assert!(!pid_alive(pid), "leader {pid} survived");
        assert!(wait_dead(grandchild), "grandchild {grandchild} survived");
    }

    #[test]
    fn a_daemon_outlives_the_thread_that_asked_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let daemon = std::thread::spawn(move || shell(&path, "sleep 300"))
            .join()
            .unwrap();
        // PR_SET_PDEATHSIG would have fired when that thread ended, had it
        // forked the daemon itself.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(daemon.exited(), None, "the daemon died with its thread");
        assert!(pid_alive(daemon.pid().unwrap()));
    }
}
