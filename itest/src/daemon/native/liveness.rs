//! Whether a process is still alive, for tests and teardown checks.

/// Whether a process with this pid is running. A zombie (dead, waiting for
/// a parent that may never reap it) counts as dead.
#[cfg(target_os = "linux")]
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

/// Whether a process with this pid is running. A zombie (dead, waiting for
/// a parent that may never reap it) counts as dead.
#[cfg(not(target_os = "linux"))]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
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
