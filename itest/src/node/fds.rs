//! Leaked file descriptors, looked for at teardown unless a node opts out
//! ([`NodeConf::without_fd_check`](crate::NodeConf::without_fd_check)).
//!
//! Two checks:
//! - **pyln-testing's**: before stopping each node, its teardown calls the
//!   developer command `dev-report-fds`, and connectd logs every file
//!   descriptor it has open with what owns it; one nothing owns is logged
//!   as `**BROKEN**` (`dev_report_fds: N open but unowned?`), which the
//!   log checks then fail on. Here too, where lightningd has the command
//!   (it needs developer mode; v23.02 has none): connectd's report is
//!   asked for twice and the second waited for in the log, so that the
//!   whole first one is there before the node stops (only where the node
//!   logs at `info` or finer, which every harness node does unless told
//!   otherwise). Any OS, any backend.
//! - **cln-itest's**, on Linux with a native lightningd: the file
//!   descriptors lightningd inherited from the test process. A child gets
//!   every descriptor its parent had open without close-on-exec when it
//!   started; Rust opens everything close-on-exec, but a C library, an FFI
//!   call or a hand-made pipe in a test (or in the harness) may not, and
//!   then lightningd holds a test's socket, file or pipe end for as long
//!   as it runs: a listener's port stays taken, a reader never sees EOF.
//!   When a node starts, the harness notes the test process's descriptors
//!   without close-on-exec (from `/proc/self/fd`), but for those it
//!   already had when it first started a node (the test runner's: a CI
//!   runner's pipe, cargo's jobserver; the process inherited them itself);
//!   when it stops, each of them that lightningd still holds (the same
//!   file, by device and inode, under the same number in
//!   `/proc/<pid>/fd`) is a finding that names it. So a descriptor leaked
//!   before the process's first node is not seen. macOS has no `/proc` to
//!   list another process's descriptors and name their files, so the
//!   check is skipped there; in a container, lightningd inherits nothing
//!   from the test process.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::json;

use super::{lock, Node};
use crate::findings::Finding;

/// connectd's report starts with its lowest open descriptor, the HSM's
/// (`HSM_FD`, 3, always open).
const REPORT_START: &str = r"dev_report_fds: 3 ";

/// A descriptor of the test process that a child it starts inherits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldFd {
    fd: i32,
    /// The file it is open on (device and inode; sockets and pipes have
    /// them too).
    dev: u64,
    ino: u64,
    /// What `/proc` calls it: a path, `socket:[N]`, `pipe:[N]`, ...
    target: String,
}

/// The test process's descriptors that a node started now would inherit
/// and that the process did not have when it first started a node. Those
/// it had then are the test runner's, not the test's: whatever started the
/// process left them open (a CI runner's pipe, a shell's `/dev/null`,
/// cargo's jobserver) and the process inherited them itself.
pub(crate) fn leaked_by_this_process() -> Vec<HeldFd> {
    static FIRST: OnceLock<Vec<HeldFd>> = OnceLock::new();
    let now = inheritable();
    let first = FIRST.get_or_init(|| now.clone());
    now.into_iter().filter(|h| !first.contains(h)).collect()
}

/// The test process's descriptors (from 3 up) without close-on-exec now:
/// what a process it starts inherits. Linux only; elsewhere none.
pub(crate) fn inheritable() -> Vec<HeldFd> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    fds.sort_unstable();
    fds.into_iter()
        .filter(|&fd| {
            // SAFETY: F_GETFD reads the flags of a descriptor number; one
            // closed meanwhile (the directory listing's own) gives -1.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            flags >= 0 && flags & libc::FD_CLOEXEC == 0
        })
        .filter_map(|fd| held(Path::new("/proc/self/fd"), fd))
        .collect()
}

/// What descriptor `fd` listed in `dir` (`/proc/<pid>/fd`) is open on.
fn held(dir: &Path, fd: i32) -> Option<HeldFd> {
    use std::os::unix::fs::MetadataExt;
    let link = dir.join(fd.to_string());
    let meta = std::fs::metadata(&link).ok()?;
    let target = std::fs::read_link(&link)
        .map(|t| t.display().to_string())
        .unwrap_or_else(|_| "?".into());
    Some(HeldFd {
        fd,
        dev: meta.dev(),
        ino: meta.ino(),
        target,
    })
}

/// Of `noted` (the test process's inheritable descriptors when `pid`
/// started), those `pid` still holds: the same file under the same number.
pub(crate) fn still_held(pid: u32, noted: &[HeldFd]) -> Vec<Finding> {
    let dir = Path::new("/proc").join(pid.to_string()).join("fd");
    noted
        .iter()
        .filter(|n| held(&dir, n.fd).is_some_and(|h| (h.dev, h.ino) == (n.dev, n.ino)))
        .map(|n| Finding::InheritedFd {
            fd: n.fd,
            target: n.target.clone(),
        })
        .collect()
}

/// Whether lightningd at `level` (a `--log-level` value) writes connectd's
/// `info` lines.
fn logs_info(level: &str) -> bool {
    !matches!(
        level.split(':').next().unwrap_or(level),
        "unusual" | "broken"
    )
}

impl Node {
    /// The descriptors to compare with lightningd's when it stops, if this
    /// start is checked: noted just before a native lightningd starts.
    pub(crate) fn note_inheritable_fds(&self) -> Vec<HeldFd> {
        let checked = lock(&self.conf).check_fds && self.placement.is_native();
        if checked {
            leaked_by_this_process()
        } else {
            Vec::new()
        }
    }

    /// The descriptors the running lightningd inherited from the test
    /// process and still holds, kept for the teardown; call before it
    /// stops.
    pub(crate) fn keep_inherited_fds(&self) {
        let checked = lock(&self.conf).check_fds;
        let pid = self.pid();
        let mut running = lock(&self.running);
        let noted = std::mem::take(&mut running.inherited);
        if let Some(pid) = pid.filter(|_| checked) {
            running.fd_findings.extend(still_held(pid, &noted));
        }
    }

    /// pyln-testing's check (module docs): has connectd log its
    /// descriptors, so that one nothing owns fails the log checks. Does
    /// nothing where lightningd lacks `dev-report-fds`, or the node is not
    /// running or opted out.
    pub(crate) fn report_fds(&self) {
        if !lock(&self.conf).check_fds || !self.is_running() {
            return;
        }
        let mark = self.log_mark();
        // A release without the command (or without developer mode)
        // answers with an error: nothing to check there.
        if self.call("dev-report-fds", json!({})).is_err() {
            return;
        }
        let (conf, bin) = (self.conf(), lock(&self.bin).clone());
        if !logs_info(&self.log_level(&conf, &bin)) {
            return;
        }
        // connectd handles requests in order and logs each report at
        // once: the start of the second means the first is all logged.
        if self.call("dev-report-fds", json!({})).is_ok() {
            let _ = self.wait_for_logs_since(&mark, [REPORT_START, REPORT_START]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::io::AsRawFd;

    #[test]
    fn only_info_levels_and_finer_wait_for_the_report() {
        for level in ["io", "trace", "debug", "info", "debug:connectd"] {
            assert!(logs_info(level), "{level}");
        }
        assert!(!logs_info("unusual"));
        assert!(!logs_info("broken"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_descriptor_without_close_on_exec_is_inheritable_and_found_in_a_child() {
        let file = tempfile::tempfile().unwrap();
        let fd = file.as_raw_fd();
        assert!(
            !inheritable().iter().any(|h| h.fd == fd),
            "Rust opens close-on-exec"
        );
        // SAFETY: clears the flags of a descriptor this test owns.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
        let noted = inheritable();
        let ours = noted.iter().find(|h| h.fd == fd).expect("noted").clone();
        // A child holds it under the same number; this process counts as
        // one too (its own /proc entry).
        let findings = still_held(std::process::id(), std::slice::from_ref(&ours));
        assert_eq!(
            findings,
            [Finding::InheritedFd {
                fd,
                target: ours.target.clone()
            }]
        );
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert_eq!(still_held(child.id(), std::slice::from_ref(&ours)).len(), 1);
        child.kill().unwrap();
        child.wait().unwrap();
        // Another file under that number is not the one noted.
        drop(file);
        let other = std::fs::File::open("/dev/null").unwrap();
        assert!(still_held(std::process::id(), &[ours]).is_empty());
        drop(other);
    }
}
