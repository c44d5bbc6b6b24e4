//! Daemon processes that cannot outlive the test that started them.
//!
//! Each daemon is spawned as the leader of its own process group, so the
//! group also holds whatever it forks (lightningd's plugins and bitcoin-cli
//! calls). Teardown kills the whole group. Three layers make sure nothing
//! is orphaned:
//! 1. `Drop` (also runs while a test panics): caller's graceful stop, a
//!    short wait, then SIGKILL to the whole group;
//! 2. `PR_SET_PDEATHSIG`: the kernel kills the daemon if the thread that
//!    spawned it dies without running `Drop` (e.g. the test binary is
//!    killed). It fires when the spawning *thread* exits, so spawn from the
//!    thread that owns the daemon and only wait for readiness elsewhere;
//! 3. the daemon's stdin is `/dev/null`, so nothing waits on us.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// A running daemon that is killed, with its process group, on drop.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    pid: i32,
    child: Mutex<Child>,
    /// Files whose tails explain a failure, most useful first.
    logs: Vec<PathBuf>,
}

impl Daemon {
    /// Spawns `cmd` in a new process group with stdout and stderr appended to
    /// `<dir>/<name>.stdout` and `<dir>/<name>.stderr`. `log` is the daemon's
    /// own log file, shown first in failure reports.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path, log: PathBuf) -> Result<Self> {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("creating {}", p.display()))
        };
        cmd.stdin(Stdio::null())
            .stdout(open(&stdout)?)
            .stderr(open(&stderr)?)
            .process_group(0);
        // SAFETY: the closure runs between fork and exec and only calls
        // async-signal-safe functions (getppid, prctl, _exit).
        let parent = std::process::id() as libc::pid_t;
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
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {name}: {cmd:?}"))?;
        Ok(Self {
            name: name.to_string(),
            pid: child.id() as i32,
            child: Mutex::new(child),
            logs: vec![log, stderr, stdout],
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The exit status if the daemon has exited (the zombie is reaped; the
    /// process group id is not reused while other members are alive).
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    /// Polls until the daemon exits or `timeout` passes.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL the whole process group and
    /// reap. Idempotent.
    pub fn shutdown(&self, grace: Duration) {
        if self.exited().is_none() {
            // SAFETY: plain syscall on a pid we own (not yet reaped).
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            self.wait_exit(grace);
        }
        // Leftovers (plugins, bitcoin-cli) stay in the group even after the
        // leader exited.
        // SAFETY: plain syscall; ESRCH when the group is already empty.
        unsafe { libc::killpg(self.pid, libc::SIGKILL) };
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The last `n` lines of each non-empty log file (the daemon's log,
    /// then its stderr, where start-up errors such as a bad option go, then
    /// stdout), each labelled with its path.
    pub fn log_tail(&self, n: usize) -> String {
        let tails: Vec<String> = self
            .logs
            .iter()
            .filter_map(|path| {
                let tail = tail_lines(path, n);
                (!tail.trim().is_empty())
                    .then(|| format!("--- last {n} lines of {} ---\n{tail}", path.display()))
            })
            .collect();
        if tails.is_empty() {
            return format!(
                "--- {}: no log output ({}) ---",
                self.name,
                self.logs[0].display()
            );
        }
        tails.join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(5));
    }
}

/// The last `n` lines of a file, reading at most the final 64 KiB.
pub fn tail_lines(path: &Path, n: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let mut buf = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether a process with this pid is running. A zombie (dead, waiting for
/// a parent that may never reap it, e.g. a container's pid 1) counts as
/// dead.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => !matches!(
            stat.rsplit_once(") ").map(|(_, rest)| rest.as_bytes()[0]),
            Some(b'Z' | b'X')
        ),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        // The shell ignores SIGTERM and leaves a grandchild behind.
        cmd.args(["-c", "trap '' TERM; sleep 300 & echo $! > grandchild; wait"]);
        cmd.current_dir(dir.path());
        let daemon = Daemon::spawn("sh", cmd, dir.path(), dir.path().join("none")).unwrap();
        let pid = daemon.pid();
        let grandchild_file = dir.path().join("grandchild");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&grandchild_file).map_or(true, |s| s.trim().is_empty()) {
            assert!(Instant::now() < deadline, "shell never started its child");
            std::thread::sleep(Duration::from_millis(20));
        }
        let grandchild: u32 = std::fs::read_to_string(&grandchild_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        daemon.shutdown(Duration::from_millis(200));
        drop(daemon);
        assert!(!pid_alive(pid), "leader {pid} survived");
        // The grandchild is reaped by init; give it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_alive(grandchild) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!pid_alive(grandchild), "grandchild {grandchild} survived");
    }
}
