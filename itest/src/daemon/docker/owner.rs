//! Who owns a container, and removing those whose owner is gone.
//!
//! testcontainers removes a container when its handle drops, which covers
//! a normal end and a panicking test, but not a test process killed by
//! SIGKILL (or a crashed CI runner): nothing runs then, and the container
//! would keep its ports and CPU forever. So every container carries labels
//! naming the process that started it, and starting a network removes the
//! containers whose owner no longer runs.
//!
//! A pid alone is not an identity: pids are reused, and a pid means nothing
//! in another pid namespace or after a reboot. The labels therefore hold the
//! pid, its start time, the pid namespace and the kernel's boot id; a
//! container is reaped only when it was started from this same namespace
//! and boot and that process (with that start time) is gone. Containers of
//! other machines sharing the engine, or of other namespaces, are left
//! alone.
//!
//! Where these come from: on Linux, `/proc` (start time in clock ticks,
//! `/proc/self/ns/pid`, `/proc/sys/kernel/random/boot_id`). Elsewhere
//! (macOS, the BSDs), which have no `/proc`: the start time from
//! `ps -o lstart=` (in UTC), the boot from `sysctl` (`kern.bootsessionuuid`
//! on macOS, else `kern.boottime`), and a fixed pid namespace. That is
//! weaker in two ways: `lstart` has one-second resolution, so a pid reused
//! within the same second looks like its old owner (its containers are then
//! kept, never wrongly removed); and FreeBSD jails are not told apart, so
//! two jails sharing one engine should not run the harness at once. Anything
//! that cannot be read is left empty, and an owner with an empty boot is
//! never judged gone.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use testcontainers::bollard::Docker;

/// Label holding the owning process's pid; its presence marks a container
/// as the harness's.
pub const PID: &str = "org.itest.owner.pid";
/// The owner's start time (Linux: clock ticks after boot, from `/proc`;
/// elsewhere `ps`'s `lstart`, in UTC).
pub const START: &str = "org.itest.owner.start";
/// The owner's pid namespace (Linux: `/proc/self/ns/pid`; elsewhere
/// fixed, as there are none).
pub const PIDNS: &str = "org.itest.owner.pidns";
/// The kernel boot id the owner ran under.
pub const BOOT: &str = "org.itest.owner.boot";
/// The owner's network directory, for a human reading `docker ps`.
pub const DIR: &str = "org.itest.owner.dir";
/// Which daemon the container runs (`bitcoind`, `l1`, ...).
pub const DAEMON: &str = "org.itest.daemon";

/// Identifies one process on one machine (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Process {
    pid: u32,
    start: String,
    pidns: String,
    boot: String,
}

impl Process {
    /// This process. Read once: none of it changes while it runs, and off
    /// Linux each part costs a `ps` or `sysctl` run.
    fn current() -> Self {
        static CURRENT: OnceLock<Process> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                Self {
                    pid,
                    start: start_time(pid).unwrap_or_default(),
                    pidns: pid_namespace(),
                    boot: boot_id(),
                }
            })
            .clone()
    }

    fn from_labels(labels: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            pid: labels.get(PID)?.parse().ok()?,
            start: labels.get(START)?.clone(),
            pidns: labels.get(PIDNS)?.clone(),
            boot: labels.get(BOOT)?.clone(),
        })
    }

    /// Whether this (foreign) process is known to be gone. `false` when it
    /// cannot be judged from here.
    fn is_gone(&self, here: &Process) -> bool {
        if self.boot != here.boot || self.pidns != here.pidns || self.boot.is_empty() {
            return false;
        }
        start_time(self.pid).as_deref() != Some(self.start.as_str())
    }
}

// Both ways of reading each part are compiled on every platform (only one
// is used), so that the portable ones are built, and tested, on Linux too.

/// When process `pid` started, as an opaque string that differs between
/// two processes that had the same pid; `None` when it does not exist or
/// is a zombie.
fn start_time(pid: u32) -> Option<String> {
    if cfg!(target_os = "linux") {
        start_time_from_proc(pid)
    } else {
        start_time_from_ps(pid)
    }
}

/// This process's pid namespace. macOS and the BSDs have none: every
/// process of a boot shares one pid space.
fn pid_namespace() -> String {
    if cfg!(target_os = "linux") {
        std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    } else {
        "none".into()
    }
}

/// What tells this boot of this machine from any other.
fn boot_id() -> String {
    if cfg!(target_os = "linux") {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    } else {
        // macOS has a UUID per boot; the BSDs have the boot time.
        let keys: &[&str] = if cfg!(target_os = "macos") {
            &["kern.bootsessionuuid", "kern.boottime"]
        } else {
            &["kern.boottime"]
        };
        keys.iter()
            .find_map(|key| sysctl(key).map(|v| format!("{key}={v}")))
            .unwrap_or_default()
    }
}

/// `sysctl -n key`, trimmed; `None` if it fails or prints nothing. In UTC
/// and the C locale: `kern.boottime` prints a date after the number, which
/// must read the same in every process.
fn sysctl(key: &str) -> Option<String> {
    // sysctl lives in /usr/sbin (macOS) or /sbin (the BSDs), which a
    // user's PATH may lack.
    ["sysctl", "/usr/sbin/sysctl", "/sbin/sysctl"]
        .iter()
        .find_map(|program| {
            let out = Command::new(program)
                .args(["-n", key])
                .env("TZ", "UTC")
                .env("LC_ALL", "C")
                .output()
                .ok()?;
            let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !value.is_empty()).then_some(value)
        })
}

/// `ps`'s state and start time (`lstart`, to the second, in UTC); `None`
/// when the process does not exist or is a zombie.
fn start_time_from_ps(pid: u32) -> Option<String> {
    let out = Command::new("ps")
        .args(["-o", "stat=", "-o", "lstart=", "-p", &pid.to_string()])
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (state, start) = text.trim().split_once(char::is_whitespace)?;
    let start = start.trim();
    (!state.starts_with('Z') && !start.is_empty()).then(|| start.to_string())
}

/// Field 22 of `/proc/<pid>/stat`, the start time; `None` when the process
/// does not exist or is a zombie.
fn start_time_from_proc(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name (which may hold spaces):
    // state is field 3, start time field 22.
    let rest: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    if matches!(rest.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    rest.get(22 - 3).map(|s| s.to_string())
}

/// The labels that mark a container as owned by this process, for a
/// network in `dir`, running `daemon`.
pub fn labels(dir: &Path, daemon: &str) -> Vec<(String, String)> {
    let me = Process::current();
    vec![
        (PID.into(), me.pid.to_string()),
        (START.into(), me.start),
        (PIDNS.into(), me.pidns),
        (BOOT.into(), me.boot),
        (DIR.into(), dir.display().to_string()),
        (DAEMON.into(), daemon.into()),
    ]
}

/// Every harness container (running or not) with its owner labels.
async fn harness_containers(docker: &Docker) -> Result<Vec<(String, HashMap<String, String>)>> {
    let filters = HashMap::from([("label".to_string(), vec![PID.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker
        .list_containers(Some(options))
        .await
        .with_context(|| format!("listing harness containers (label {PID})"))?;
    Ok(containers
        .into_iter()
        .filter_map(|c| Some((c.id?, c.labels?)))
        .collect())
}

/// The ids of the containers this process owns.
pub async fn owned_by_this_process(docker: &Docker) -> Result<Vec<String>> {
    let here = Process::current();
    Ok(harness_containers(docker)
        .await?
        .into_iter()
        .filter(|(_, labels)| Process::from_labels(labels).as_ref() == Some(&here))
        .map(|(id, _)| id)
        .collect())
}

/// Removes (forcibly) every harness container whose owner is gone, then
/// the container networks and volumes of such owners (the isolated docker
/// mode's); returns the container ids and the network and volume names
/// removed.
pub async fn reap_orphans(docker: &Docker) -> Result<Vec<String>> {
    let here = Process::current();
    let orphan = |labels: &HashMap<String, String>| {
        Process::from_labels(labels).is_some_and(|owner| owner.is_gone(&here))
    };
    // Another process may be reaping the same thing right now.
    let gone = |e: &testcontainers::bollard::errors::Error| {
        let text = e.to_string();
        text.contains("404") || text.contains("409")
    };
    let mut removed = Vec::new();
    for (id, labels) in harness_containers(docker).await? {
        if !orphan(&labels) {
            continue;
        }
        let force = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match docker.remove_container(&id, Some(force)).await {
            Ok(()) => removed.push(id),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("removing orphan container {id}")),
        }
    }
    let filter = HashMap::from([("label".to_string(), vec![PID.to_string()])]);
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .with_context(|| format!("listing harness volumes (label {PID})"))?;
    for volume in volumes.volumes.unwrap_or_default() {
        if !orphan(&volume.labels) {
            continue;
        }
        let force = RemoveVolumeOptionsBuilder::new().force(true).build();
        match docker.remove_volume(&volume.name, Some(force)).await {
            Ok(()) => removed.push(volume.name),
            Err(e) if gone(&e) => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing orphan volume {}", volume.name))
            }
        }
    }
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .with_context(|| format!("listing harness networks (label {PID})"))?;
    for network in networks {
        let (Some(name), Some(labels)) = (network.name, network.labels) else {
            continue;
        };
        if !orphan(&labels) {
            continue;
        }
        match docker.remove_network(&name).await {
            Ok(()) => removed.push(name),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("removing orphan network {name}")),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone_and_a_dead_one_is() {
        let here = Process::current();
        assert!(!here.start.is_empty() && !here.boot.is_empty() && !here.pidns.is_empty());
        assert!(!here.is_gone(&here));

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = Process {
            pid: child.id(),
            start: start_time(child.id()).unwrap_or_else(|| "0".into()),
            ..here.clone()
        };
        child.wait().unwrap();
        assert!(dead.is_gone(&here), "{dead:?}");

        // Same pid, other start time: the pid was reused by someone else.
        let reused = Process {
            start: "1".into(),
            ..here.clone()
        };
        assert!(reused.is_gone(&here));

        // Another boot or namespace cannot be judged from here.
        let elsewhere = Process {
            boot: "another-boot".into(),
            ..dead.clone()
        };
        assert!(!elsewhere.is_gone(&here));
        let other_ns = Process {
            pidns: "pid:[1]".into(),
            ..dead
        };
        assert!(!other_ns.is_gone(&here));
    }

    /// The portable start time on Linux's `ps`: stable for one process,
    /// gone for a zombie and a reaped child, and it tells a reused pid from
    /// its old owner as `/proc` does (to the second, so only across a
    /// second boundary).
    #[test]
    fn the_start_time_from_ps_tracks_a_process_as_proc_does() {
        let me = std::process::id();
        let first = start_time_from_ps(me).expect("ps reads this process");
        assert_eq!(start_time_from_ps(me).as_deref(), Some(first.as_str()));
        assert!(first.chars().any(|c| c.is_ascii_digit()), "{first}");

        let mut child = Command::new("sleep").arg("300").spawn().unwrap();
        assert!(start_time_from_ps(child.id()).is_some());
        child.kill().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while start_time_from_ps(child.id()).is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            start_time_from_ps(child.id()),
            None,
            "a zombie has no start"
        );
        assert_eq!(start_time_from_proc(child.id()), None);
        child.wait().unwrap();
        assert_eq!(start_time_from_ps(child.id()), None, "a reaped child");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sysctl_reads_what_proc_says() {
        // The Linux name of the boot id; the BSDs' keys do not exist here.
        let from_proc = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert_eq!(
            sysctl("kernel.random.boot_id").as_deref(),
            Some(from_proc.trim())
        );
        assert_eq!(sysctl("kern.no-such-key"), None);
    }

    #[test]
    fn labels_round_trip() {
        let labels: HashMap<String, String> = labels(Path::new("/tmp/x"), "bitcoind")
            .into_iter()
            .collect();
        assert_eq!(Process::from_labels(&labels), Some(Process::current()));
        assert_eq!(labels[DIR], "/tmp/x");
        assert_eq!(labels[DAEMON], "bitcoind");
    }
}
