//! Free TCP ports that stay reserved across threads and processes.
//!
//! Binding `127.0.0.1:0` alone is not enough: the kernel may hand the same
//! port to a parallel test (another thread, or another test binary run by
//! cargo at the same time) in the window between our probe and the daemon's
//! own bind. So every port we hand out is also claimed with an exclusive
//! `flock` on `<tmp>/itest-ports/<port>.lock`, held for as long as the
//! [`PortLease`] lives. Any harness process on the machine skips ports whose
//! lock is held. The kernel drops the lock when the holder dies, even by
//! SIGKILL, so a crashed run never leaks reservations.

use std::fs::{self, File, OpenOptions};
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;

use crate::error::{bail, Context, Result};

/// A reserved port. Dropping it releases the reservation.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    _lock: File,
}

impl PortLease {
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Directory shared by every harness process of every user on this machine.
fn lock_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join("itest-ports");
    if !dir.is_dir() {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Sticky and world-writable like /tmp, so other users can share it.
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777));
    }
    Ok(dir)
}

/// Reserves a free loopback port.
pub fn reserve() -> Result<PortLease> {
    let dir = lock_dir()?;
    for _ in 0..200 {
        let probe =
            TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port")?;
        let port = probe.local_addr()?.port();
        let path = dir.join(format!("{port}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o666)
            .open(&path)
            .with_context(|| format!("opening port lock {}", path.display()))?;
        // SAFETY: flock on a valid, owned fd; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            // The probe listener closes here; it never accepted a
            // connection, so the port is not left in TIME_WAIT.
            return Ok(PortLease { port, _lock: file });
        }
        // Someone else holds this port; ask the kernel for another one.
    }
    bail!(
        "could not reserve a free port after 200 attempts (lock dir {})",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_distinct_while_held() {
        let leases: Vec<_> = (0..50).map(|_| reserve().unwrap()).collect();
        let mut ports: Vec<u16> = leases.iter().map(PortLease::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), leases.len());
    }

    #[test]
    fn a_held_lock_blocks_a_second_claim() {
        let lease = reserve().unwrap();
        let path = lock_dir().unwrap().join(format!("{}.lock", lease.port()));
        let again = OpenOptions::new().write(true).open(path).unwrap();
        let rc = unsafe { libc::flock(again.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, -1, "second flock on a leased port must fail");
    }
}
