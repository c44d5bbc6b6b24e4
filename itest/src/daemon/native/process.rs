//! Daemons as local processes that cannot outlive the test process.
//!
//! Each daemon runs in a process group of its own, which also holds
//! whatever it forks (lightningd's subdaemons and plugins, bitcoin-cli
//! calls), and teardown kills the whole group. Three layers make sure
//! nothing is orphaned:
//! 1. `Drop` (also while a test panics): the owner's graceful stop, a short
//!    wait, then SIGKILL to the whole group;
//! 2. the [`OrphanGuard`], for a test process that dies without running
//!    `Drop` (SIGKILL): the kernel's parent death signal, or a supervisor
//!    shell that leads the group and kills it when a pipe from the test
//!    process closes (see `guard`);
//! 3. the daemon's stdin is `/dev/null`, so nothing waits on us.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::daemon::boundary::{poll_exit, Daemon, DaemonSpec, ExitStatus, Side};
use crate::daemon::native::guard::{self, OrphanGuard, Supervisor};
use crate::logs::tails::labelled_tails;

/// A running child process, killed with its process group on drop.
#[derive(Debug)]
pub(crate) struct LocalProcess {
    name: String,
    pid: i32,
    /// The process group: the daemon's own pid, or its supervisor's.
    group: i32,
    state: Mutex<State>,
    /// Files whose tails explain a failure, most useful first.
    logs: Vec<PathBuf>,
}

#[derive(Debug)]
struct State {
    child: Child,
    /// Leads the group under [`OrphanGuard::Supervisor`].
    supervisor: Option<Supervisor>,
    /// The group was killed and its leader reaped: its id may now belong
    /// to someone else, so it is never signalled again.
    gone: bool,
}

impl LocalProcess {
    /// Spawns `spec` in a process group of its own, guarded by `guard`,
    /// stdout and stderr appended to `<dir>/<name>.stdout` and
    /// `<dir>/<name>.stderr`.
    pub(crate) fn spawn(spec: &DaemonSpec, guard: OrphanGuard) -> Result<Self> {
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
            .stderr(open(&stderr)?);
        if let Some((uid, gid)) = spec.run_as {
            // Applied in the child before `pre_exec`, so the parent death
            // signal armed below survives the change of user.
            cmd.uid(uid).gid(gid);
        }
        // The supervisor starts first, so the daemon is never unguarded.
        let supervisor = match guard {
            OrphanGuard::Supervisor => Some(Supervisor::start(&spec.name)?),
            OrphanGuard::ParentDeathSignal => {
                guard::arm_parent_death_signal(&mut cmd)
                    .with_context(|| format!("starting {}", spec.name))?;
                None
            }
        };
        // 0: a new group led by the daemon itself.
        cmd.process_group(supervisor.as_ref().map_or(0, Supervisor::group));
        let child =
            crate::runtime::spawn(cmd).with_context(|| format!("starting {}", spec.name))?;
        let pid = child.id() as i32;
        Ok(Self {
            name: spec.name.clone(),
            pid,
            group: supervisor.as_ref().map_or(pid, Supervisor::group),
            state: Mutex::new(State {
                child,
                supervisor,
                gone: false,
            }),
            logs: vec![spec.log.clone(), stderr, stdout],
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_exit(&self) -> Option<std::process::ExitStatus> {
        self.state().child.try_wait().ok().flatten()
    }
}

impl Daemon for LocalProcess {
    fn pid(&self) -> Option<u32> {
        Some(self.pid as u32)
    }

    fn exited(&self) -> Option<ExitStatus> {
        self.try_exit().map(ExitStatus::from_std)
    }

    fn wait_exit(&self, timeout: Duration) -> bool {
        poll_exit(timeout, Duration::from_millis(20), || {
            self.try_exit().is_some()
        })
    }

    fn kill(&self, grace: Duration) {
        if self.state().gone {
            return;
        }
        if self.try_exit().is_none() {
            // SAFETY: plain syscall on a pid we own (not yet reaped).
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            self.wait_exit(grace);
        }
        let mut state = self.state();
        if state.gone {
            return;
        }
        // Leftovers (plugins, bitcoin-cli, the supervisor) stay in the
        // group even after the daemon exited. A group's id is not reused
        // while the group has members, and a supervisor, which leads its
        // group, is reaped only below.
        // SAFETY: plain syscall; ESRCH when the group is already empty.
        unsafe { libc::killpg(self.group, libc::SIGKILL) };
        let _ = state.child.kill();
        let _ = state.child.wait();
        if let Some(supervisor) = &mut state.supervisor {
            supervisor.reap();
        }
        state.gone = true;
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
    use rstest::rstest;

    use super::*;
    use crate::daemon::native::liveness::pid_alive;
    use std::time::Instant;

    fn shell(dir: &Path, script: &str, guard: OrphanGuard) -> LocalProcess {
        LocalProcess::spawn(
            &DaemonSpec::new(
                "sh",
                "sh".into(),
                vec!["-c".into(), script.into()],
                dir.to_path_buf(),
                dir.join("none"),
            ),
            guard,
        )
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

    fn process_group(pid: u32) -> i32 {
        // SAFETY: plain syscall.
        unsafe { libc::getpgid(pid as libc::pid_t) }
    }

    /// Every guard this platform has.
    fn available(guard: OrphanGuard) -> bool {
        if !guard.is_available() {
            eprintln!("{guard} does not exist here; nothing to test");
        }
        guard.is_available()
    }

    #[rstest]
    #[case::parent_death_signal(OrphanGuard::ParentDeathSignal)]
    #[case::supervisor(OrphanGuard::Supervisor)]
    fn kill_takes_the_whole_group(#[case] guard: OrphanGuard) {
        if !available(guard) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // The shell ignores SIGTERM and leaves a grandchild behind.
        let daemon = shell(
            dir.path(),
            "trap '' TERM; sleep 300 & echo $! > grandchild; wait",
            guard,
        );
        let grandchild = read_pid(&dir.path().join("grandchild"));
        let pid = daemon.pid().unwrap();
        let group = daemon.group;
        daemon.kill(Duration::from_millis(200));
        drop(daemon);
        assert!(!pid_alive(pid), "leader {pid} survived");
        assert!(wait_dead(grandchild), "grandchild {grandchild} survived");
        assert!(!pid_alive(group as u32), "group leader {group} survived");
    }

    #[rstest]
    #[case::parent_death_signal(OrphanGuard::ParentDeathSignal)]
    #[case::supervisor(OrphanGuard::Supervisor)]
    fn a_daemon_outlives_the_thread_that_asked_for_it(#[case] guard: OrphanGuard) {
        if !available(guard) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let daemon = std::thread::spawn(move || shell(&path, "sleep 300", guard))
            .join()
            .unwrap();
        // PR_SET_PDEATHSIG would have fired when that thread ended, had it
        // forked the daemon itself.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(daemon.exited(), None, "the daemon died with its thread");
        assert!(pid_alive(daemon.pid().unwrap()));
    }

    #[test]
    fn the_supervisor_leads_the_group_and_kills_it_when_the_pipe_closes() {
        let dir = tempfile::tempdir().unwrap();
        let daemon = shell(
            dir.path(),
            "sleep 300 & echo $! > grandchild; wait",
            OrphanGuard::Supervisor,
        );
        let grandchild = read_pid(&dir.path().join("grandchild"));
        let pid = daemon.pid().unwrap();
        let leader = daemon.state().supervisor.as_ref().unwrap().group();
        assert_ne!(leader, pid as i32, "the daemon must not lead its group");
        assert_eq!(process_group(pid), leader);
        assert_eq!(process_group(grandchild), leader);
        // What the kernel does to the pipe when the test process dies.
        daemon.state().supervisor.as_mut().unwrap().cut_lifeline();
        assert!(
            daemon.wait_exit(Duration::from_secs(10)),
            "the daemon outlived its lifeline"
        );
        assert!(
            daemon.exited().is_some_and(|e| e.signal() == Some(9)),
            "{:?}",
            daemon.exited()
        );
        assert!(wait_dead(grandchild), "grandchild {grandchild} survived");
    }

    #[test]
    fn under_the_parent_death_signal_the_daemon_leads_its_own_group() {
        if !available(OrphanGuard::ParentDeathSignal) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let daemon = shell(dir.path(), "sleep 300", OrphanGuard::ParentDeathSignal);
        let pid = daemon.pid().unwrap();
        assert_eq!(process_group(pid), pid as i32);
        assert!(daemon.state().supervisor.is_none());
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn the_parent_death_signal_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let spec = DaemonSpec {
            name: "sh".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "sleep 300".into()],
            dir: dir.path().to_path_buf(),
            log: dir.path().join("none"),
            env: Vec::new(),
        };
        let err = LocalProcess::spawn(&spec, OrphanGuard::ParentDeathSignal).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("PR_SET_PDEATHSIG") && err.contains("Supervisor"),
            "{err}"
        );
    }
}
