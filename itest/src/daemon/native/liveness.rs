//! Whether a process is still alive, for tests and teardown checks.
//!
//! Linux answers from `/proc`; every other Unix by `kill(pid, 0)` and
//! `ps`. Both ways are compiled on every platform (only one is used), so
//! that the portable one is built, and checked against `/proc`, here.

/// Whether a process with this pid is running. A zombie (dead, waiting for
/// a parent that may never reap it) counts as dead.
pub fn pid_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        from_proc(pid)
    } else {
        portable(pid)
    }
}

/// From `/proc/<pid>/stat` (Linux).
fn from_proc(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => !matches!(
            stat.rsplit_once(") ").map(|(_, rest)| rest.as_bytes()[0]),
            Some(b'Z' | b'X')
        ),
        Err(_) => false,
    }
}

/// `kill(pid, 0)` says whether the pid exists (EPERM: it does, but is not
/// ours); `ps` says whether it is a zombie. Weaker than `/proc`: two
/// questions, so a process that dies in between counts as alive once more.
fn portable(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        // 0 and negative pids name process groups, not a process.
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; no memory.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // `ps` reports a zombie's state as Z; it is the portable way to ask.
    exists
        && !std::process::Command::new("ps")
            .args(["-o", "stat=", "-p", &pid.to_string()])
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim_start()
                    .starts_with('Z')
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways agree on `pid`, and say `expected`.
    fn both_say(pid: u32, expected: bool) {
        assert_eq!(portable(pid), expected, "portable, pid {pid}");
        if cfg!(target_os = "linux") {
            assert_eq!(from_proc(pid), expected, "/proc, pid {pid}");
        }
        assert_eq!(pid_alive(pid), expected, "pid_alive, pid {pid}");
    }

    #[test]
    fn running_zombie_and_reaped_processes() {
        both_say(std::process::id(), true);
        let mut sleeper = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        both_say(sleeper.id(), true);
        sleeper.kill().unwrap();
        // Killed, not yet reaped: a zombie until `wait`.
        let zombie = sleeper.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while portable(zombie) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        both_say(zombie, false);
        sleeper.wait().unwrap();
        both_say(zombie, false);
        // Not a process at all.
        both_say(0, false);
        both_say(u32::MAX, false);
    }
}
