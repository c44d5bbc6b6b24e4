//! Free TCP ports that stay reserved across threads and processes, outside
//! the range the OS hands out by itself.
//!
//! Two things can take a port between the moment the harness picks it and
//! the moment its daemon binds it:
//! - a parallel test (another thread, or another test binary: cargo and
//!   nextest run several at once) picking the same port. So every port
//!   handed out is also claimed with an exclusive `flock` on
//!   `/tmp/itest-ports/<port>.lock`, held for as long as the [`PortLease`]
//!   lives, and any harness process on the machine skips ports whose lock
//!   is held. The kernel drops the lock when the holder dies, even by
//!   SIGKILL, so a crashed run never leaks reservations. `flock` is in
//!   every Unix (Linux, macOS, the BSDs).
//! - the kernel itself, which gives every outgoing connection (lightningd
//!   to bitcoind, a peer to a peer, bitcoin-cli, ...) and every bind to
//!   port 0 a local port from its ephemeral range, unasked and unlocked.
//!   So ports are picked outside that range (Linux:
//!   `/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 by default;
//!   macOS and the BSDs: `net.inet.ip.portrange.first`/`last`, 49152-65535),
//!   from 10000 up, as pyln-testing does since CLN PR 9399 (after 9211 gave
//!   it lock files), where "Address already in use" was the most reported
//!   flake of CLN's, LND's and ldk-node's test suites.
//!
//! A port is handed out only once it is locked and a test bind of
//! `127.0.0.1:<port>` succeeds (nothing else on the machine listens
//! there). The search starts at a random place in the range, so that
//! processes do not all contend for its first ports. Where the ephemeral
//! range leaves nothing outside it (it was widened to most ports), the
//! kernel picks as before (binding port 0), which the harness says once
//! per process.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::TcpListener;
use std::ops::RangeInclusive;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Once};

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

/// Directory shared by every harness process of every user on this
/// machine, as ports are: `/tmp/itest-ports`. Not under the temp dir, which
/// is per user on macOS (`/var/folders/...`) and often per job in CI; only
/// where `/tmp` cannot hold it, the temp dir is used.
fn lock_dir() -> Result<PathBuf> {
    let mut tried = Vec::new();
    for root in lock_roots(std::env::temp_dir()) {
        let dir = root.join("itest-ports");
        match shared_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => tried.push(format!("{e:#}")),
        }
    }
    bail!("no directory for port locks: {}", tried.join("; "))
}

/// Where the lock directory may go, best first.
fn lock_roots(temp_dir: PathBuf) -> Vec<PathBuf> {
    let shared = PathBuf::from("/tmp");
    if temp_dir == shared {
        vec![shared]
    } else {
        vec![shared, temp_dir]
    }
}

/// Creates `dir` if needed, sticky and world-writable like /tmp, so that
/// other users can share it.
fn shared_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o1777));
    }
    Ok(())
}

/// The lowest port handed out: below it are the defaults of many services
/// (and below 1024, ports only root may bind).
const FLOOR: u16 = 10_000;
/// Where too few ports lie between [`FLOOR`] and the ephemeral range, the
/// floor drops to 1024 rather than crowd parallel tests into them.
const ENOUGH: usize = 1_000;

/// The OS's ephemeral range where it cannot be read: IANA's (RFC 6335),
/// which macOS and the BSDs use by default.
const IANA_EPHEMERAL: RangeInclusive<u16> = 49_152..=65_535;

/// The ports this process hands out: outside the ephemeral range, read
/// once.
static POOL: LazyLock<Vec<RangeInclusive<u16>>> =
    LazyLock::new(|| outside(ephemeral_range().unwrap_or(IANA_EPHEMERAL)));

/// The range the kernel picks local ports from by itself.
fn ephemeral_range() -> Option<RangeInclusive<u16>> {
    #[cfg(target_os = "linux")]
    {
        let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
        parse_linux_range(&text)
    }
    #[cfg(any(
        target_os = "macos",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    ))]
    {
        let first = sysctl_int(c"net.inet.ip.portrange.first")?;
        let last = sysctl_int(c"net.inet.ip.portrange.last")?;
        Some(u16::try_from(first).ok()?..=u16::try_from(last).ok()?)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "macos",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )))]
    {
        None
    }
}

/// `/proc/sys/net/ipv4/ip_local_port_range`: two numbers.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_linux_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut numbers = text.split_whitespace().map(str::parse::<u16>);
    let (first, last) = (numbers.next()?.ok()?, numbers.next()?.ok()?);
    (first <= last).then_some(first..=last)
}

/// An integer sysctl by name.
#[cfg(any(
    target_os = "macos",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
fn sysctl_int(name: &std::ffi::CStr) -> Option<i32> {
    let mut value: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>();
    // SAFETY: `value` and `size` are valid for writes of an int, which is
    // what these sysctls hold; no new value is set.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            (&mut value as *mut libc::c_int).cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    (rc == 0).then_some(value)
}

/// The ports from [`FLOOR`] up that `ephemeral` leaves out (from 1024 up
/// where that gives too few), lowest first.
fn outside(ephemeral: RangeInclusive<u16>) -> Vec<RangeInclusive<u16>> {
    let around = |floor: u16| -> Vec<RangeInclusive<u16>> {
        let mut ranges = Vec::new();
        if *ephemeral.start() > floor {
            ranges.push(floor..=ephemeral.start() - 1);
        }
        if *ephemeral.end() < u16::MAX {
            ranges.push((ephemeral.end() + 1).max(floor)..=u16::MAX);
        }
        ranges.retain(|r| !r.is_empty());
        ranges
    };
    let preferred = around(FLOOR);
    if count(&preferred) >= ENOUGH {
        preferred
    } else {
        around(1024)
    }
}

fn count(ranges: &[RangeInclusive<u16>]) -> usize {
    ranges.iter().map(|r| r.len()).sum()
}

/// The `i`-th port of `ranges` (`i` below their [`count`]).
fn nth(ranges: &[RangeInclusive<u16>], mut i: usize) -> u16 {
    for r in ranges {
        if i < r.len() {
            return r.start() + i as u16;
        }
        i -= r.len();
    }
    unreachable!("index within the pool")
}

/// A random number, different at each call: where the search starts.
fn random() -> u64 {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Reserves a free loopback port outside the ephemeral range (see the
/// module docs).
pub fn reserve() -> Result<PortLease> {
    let dir = lock_dir()?;
    let pool = &*POOL;
    let size = count(pool);
    if size > 0 {
        let start = (random() % size as u64) as usize;
        for k in 0..size {
            let port = nth(pool, (start + k) % size);
            if let Some(lock) = claim(&dir, port)? {
                if bindable(port) {
                    return Ok(PortLease { port, _lock: lock });
                }
                // Someone outside the harness listens there: the lock
                // is dropped here, and the port left alone.
            }
        }
    }
    note_fallback(pool);
    reserve_from_kernel(&dir)
}

/// The lock of `port`, unless another lease holds it.
fn claim(dir: &Path, port: u16) -> Result<Option<File>> {
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
    Ok((rc == 0).then_some(file))
}

/// Whether a daemon could bind `127.0.0.1:<port>` now. The probe never
/// accepts a connection, so the port is not left in TIME_WAIT.
fn bindable(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Says once per process that ports come from the kernel's own range.
fn note_fallback(pool: &[RangeInclusive<u16>]) {
    static NOTED: Once = Once::new();
    NOTED.call_once(|| {
        // The real stderr: libtest's capture would hide eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "itest: no free port outside the OS's ephemeral range (free ranges: {pool:?}); \
             ports come from the kernel's own range, where an outgoing connection may take \
             one before its daemon binds it"
        );
    });
}

/// The old way, for when nothing is left outside the ephemeral range:
/// whatever port the kernel gives a bind to port 0, locked.
fn reserve_from_kernel(dir: &Path) -> Result<PortLease> {
    for _ in 0..200 {
        let probe =
            TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port")?;
        let port = probe.local_addr()?.port();
        if let Some(lock) = claim(dir, port)? {
            return Ok(PortLease { port, _lock: lock });
        }
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
    fn the_pool_lies_outside_the_ephemeral_range_from_10000_up() {
        // Linux's default range: below and above it.
        assert_eq!(outside(32_768..=60_999), [10_000..=32_767, 61_000..=65_535]);
        // macOS's (IANA's): below it only.
        assert_eq!(outside(49_152..=65_535), [10_000..=49_151]);
        // A range starting low leaves the ports above it.
        assert_eq!(outside(1_024..=50_000), [50_001..=65_535]);
        // Too little room from 10000 up: from 1024 up instead.
        assert_eq!(outside(10_500..=65_535), [1_024..=10_499]);
        // Nothing left: the kernel picks (see `reserve`).
        assert!(outside(1_024..=65_535).is_empty());
        let pool = outside(32_768..=60_999);
        assert_eq!(count(&pool), 22_768 + 4_536);
        assert_eq!(nth(&pool, 0), 10_000);
        assert_eq!(nth(&pool, 22_767), 32_767);
        assert_eq!(nth(&pool, 22_768), 61_000);
        assert_eq!(nth(&pool, count(&pool) - 1), 65_535);
    }

    #[test]
    fn linux_ranges_are_read_as_the_kernel_writes_them() {
        assert_eq!(parse_linux_range("32768\t60999\n"), Some(32_768..=60_999));
        assert_eq!(parse_linux_range("1024 65535"), Some(1_024..=65_535));
        assert_eq!(parse_linux_range("60999 32768"), None);
        assert_eq!(parse_linux_range("garbage"), None);
    }

    #[test]
    fn leases_lie_outside_this_machines_ephemeral_range() {
        let ephemeral = ephemeral_range().unwrap_or(IANA_EPHEMERAL);
        for _ in 0..20 {
            let lease = reserve().unwrap();
            assert!(
                !ephemeral.contains(&lease.port()) && lease.port() >= 1_024,
                "{} in {ephemeral:?}",
                lease.port()
            );
        }
    }

    #[test]
    fn a_port_someone_listens_on_is_never_handed_out() {
        // Hold many ports of the pool as an outside program would: bound
        // without a lock. None of them may be leased.
        let ephemeral = ephemeral_range().unwrap_or(IANA_EPHEMERAL);
        let taken: Vec<TcpListener> = (0..200)
            .filter_map(|_| {
                let lease = reserve().ok()?;
                let port = lease.port();
                drop(lease);
                TcpListener::bind(("127.0.0.1", port)).ok()
            })
            .collect();
        assert!(!taken.is_empty());
        let held: Vec<u16> = taken
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        assert!(held.iter().all(|p| !ephemeral.contains(p)));
        let leases: Vec<PortLease> = (0..200).map(|_| reserve().unwrap()).collect();
        for lease in &leases {
            assert!(
                !held.contains(&lease.port()),
                "{} is listened on",
                lease.port()
            );
        }
    }

    #[test]
    fn leases_are_distinct_while_held() {
        let leases: Vec<_> = (0..50).map(|_| reserve().unwrap()).collect();
        let mut ports: Vec<u16> = leases.iter().map(PortLease::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), leases.len());
    }

    #[test]
    fn the_lock_dir_is_machine_wide_whatever_the_temp_dir() {
        // macOS's per-user TMPDIR must not split the reservations.
        let per_user = PathBuf::from("/var/folders/xy/abc/T");
        assert_eq!(
            lock_roots(per_user.clone()),
            [PathBuf::from("/tmp"), per_user]
        );
        assert_eq!(lock_roots("/tmp".into()), [PathBuf::from("/tmp")]);
        let dir = lock_dir().unwrap();
        assert_eq!(dir, Path::new("/tmp/itest-ports"));
        let mode = fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o1777, 0o1777, "{mode:o}");
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
