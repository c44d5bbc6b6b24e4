//! What a PostgreSQL node needs on this machine: PostgreSQL's server
//! programs (`initdb`, `postgres`), and a lightningd built with its
//! PostgreSQL driver.
//!
//! Both are asked the way the harness will use them: the server programs
//! are found where distributions put them (Debian keeps them off `PATH`,
//! in `/usr/lib/postgresql/<major>/bin`), and lightningd is started once
//! with a `postgres://` wallet that points at a closed port. A build with
//! the driver fails to connect; a build without it fails earlier, with
//! "Unable to find DB driver" (CLN's `db/utils.c`). That costs a quarter
//! of a second and reads the same through wrapper scripts (nix) and static
//! builds, which a look at the binary's libraries would not.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::lookup::{is_executable, search_path};

/// The variable naming the directory of `initdb` and `postgres`.
pub const BINDIR_VAR: &str = "ITEST_POSTGRES_BINDIR";

/// The programs the harness runs, in that directory.
pub const SERVER_PROGRAMS: [&str; 2] = ["initdb", "postgres"];

/// How to get the server programs, for messages.
pub const INSTALL_HINT: &str =
    "install PostgreSQL (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql; nix: pkgs.postgresql), or set ITEST_POSTGRES_BINDIR to the directory holding initdb and postgres";

/// The wallet the driver probe gives lightningd: port 1, where nothing
/// listens, so a build with the driver fails at once to connect.
pub const PROBE_WALLET: &str = "postgres://itest-probe@127.0.0.1:1/itest-probe";

/// The directory holding `initdb` and `postgres`: `given` if set (named
/// `label` in the error: the variable, or the `Conf` field), else the
/// first of: a `PATH` directory with both, `pg_config --bindir`, the
/// newest `/usr/lib/postgresql/<major>/bin` (Debian, Ubuntu), the newest
/// `/usr/pgsql-<major>/bin` (RHEL, Fedora). The error says what was tried
/// and how to get them.
pub fn find_bin_dir(
    given: Option<OsString>,
    label: &str,
    path: Option<OsString>,
) -> Result<PathBuf, String> {
    search(given, label, path, &INSTALL_DIRS)
}

/// Where distributions install the server programs off `PATH`: a parent
/// directory, the prefix of each major version's directory in it, and the
/// subdirectory of the programs.
const INSTALL_DIRS: [(&str, &str, &str); 2] = [
    // Debian, Ubuntu.
    ("/usr/lib/postgresql", "", "bin"),
    // RHEL, Fedora (PGDG packages).
    ("/usr", "pgsql-", "bin"),
];

fn search(
    given: Option<OsString>,
    label: &str,
    path: Option<OsString>,
    install_dirs: &[(&str, &str, &str)],
) -> Result<PathBuf, String> {
    if let Some(dir) = given.filter(|v| !v.is_empty()).map(PathBuf::from) {
        return match missing_in(&dir) {
            None => Ok(dir),
            Some(missing) => Err(format!(
                "{label} {} has no executable {missing}: point it at the directory holding initdb and postgres, or unset it to search PATH and the usual install directories",
                dir.display()
            )),
        };
    }
    let on_path = super::lookup::path_dirs(path.clone())
        .into_iter()
        .find(|d| missing_in(d).is_none());
    let pg_config = || {
        let program = search_path("pg_config".as_ref(), path.clone())?;
        let out = Command::new(program)
            .arg("--bindir")
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        (out.status.success() && missing_in(&dir).is_none()).then_some(dir)
    };
    on_path
        .or_else(pg_config)
        .or_else(|| {
            install_dirs
                .iter()
                .find_map(|(parent, prefix, sub)| newest(Path::new(parent), prefix, sub))
        })
        .ok_or_else(|| {
            format!(
                "PostgreSQL's initdb and postgres not found (looked on PATH, in `pg_config --bindir`, /usr/lib/postgresql/*/bin and /usr/pgsql-*/bin): {INSTALL_HINT}"
            )
        })
}

/// The first server program `dir` lacks.
fn missing_in(dir: &Path) -> Option<&'static str> {
    SERVER_PROGRAMS
        .into_iter()
        .find(|p| !is_executable(&dir.join(p)))
}

/// `<parent>/<prefix><major>/<sub>` with the highest numeric major that
/// holds both programs.
fn newest(parent: &Path, prefix: &str, sub: &str) -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let major = name.strip_prefix(prefix)?.parse::<u32>().ok()?;
            let dir = entry.path().join(sub);
            missing_in(&dir).is_none().then_some((major, dir))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, dir)| dir)
}

/// The arguments of the driver probe, with `dir` a lightning-dir that
/// does not exist yet (lightningd creates it, one level deep).
pub fn probe_args(dir: &Path) -> Vec<String> {
    vec![
        format!("--lightning-dir={}", dir.display()),
        "--network=regtest".into(),
        "--disable-dns".into(),
        format!("--wallet={PROBE_WALLET}"),
    ]
}

/// What the driver probe's output says: `Ok(true)` for a lightningd that
/// tried to connect, `Ok(false)` for one without the driver, else an
/// error quoting what it printed.
pub fn read_probe(output: &str) -> Result<bool, String> {
    if output.contains("Unable to find DB driver") {
        Ok(false)
    } else if output.contains("Could not connect to postgres://") {
        Ok(true)
    } else {
        let tail: Vec<&str> = output.lines().rev().take(5).collect();
        Err(format!(
            "lightningd with --wallet={PROBE_WALLET} neither tried to connect nor lacked the driver; it printed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ))
    }
}

/// Whether the lightningd at `program` (on this machine) has the
/// PostgreSQL driver: the probe, in a fresh lightning-dir under the temp
/// dir, removed afterwards. Gives up after `limit`.
pub fn native_driver(program: &Path, limit: Duration) -> Result<bool, String> {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let scratch = std::env::temp_dir().join(format!(
        "itest-pg-probe-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("creating {}: {e}", scratch.display()))?;
    let out = scratch.join("out");
    let result = run_probe(program, &scratch.join("node"), &out, limit);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run_probe(program: &Path, node: &Path, out: &Path, limit: Duration) -> Result<bool, String> {
    let shown = program.display();
    let file =
        std::fs::File::create(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(program)
        .args(probe_args(node))
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("running {shown}: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} --wallet={PROBE_WALLET} did not exit within {}s",
                    limit.as_secs()
                ));
            }
        }
    }
    let text = std::fs::read_to_string(out).unwrap_or_default();
    read_probe(&text).map_err(|e| format!("{shown}: {e}"))
}

/// Why a lightningd without the driver cannot run a PostgreSQL node, and
/// how to get one that can.
pub fn no_driver_message(program: &str) -> String {
    format!(
        "{program} was built without PostgreSQL support (\"Unable to find DB driver\" for a postgres:// wallet): build CLN with libpq's headers installed (Debian: apt-get install libpq-dev before ./configure), or run these nodes on SQLite"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_output_tells_the_two_builds_apart() {
        assert_eq!(
            read_probe("Unable to find DB driver for postgres://x@127.0.0.1:1/y"),
            Ok(false)
        );
        assert_eq!(
            read_probe(
                "Error calling DB setup: Could not connect to postgres://x@127.0.0.1:1/y: refused"
            ),
            Ok(true)
        );
        let err = read_probe("error while loading shared libraries: libsodium.so.23").unwrap_err();
        assert!(err.contains("libsodium"), "{err}");
    }

    #[test]
    fn a_bindir_variable_without_the_programs_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_bin_dir(Some(dir.path().into()), BINDIR_VAR, None).unwrap_err();
        assert!(err.contains(BINDIR_VAR) && err.contains("initdb"), "{err}");
    }

    #[test]
    fn a_machine_without_the_programs_is_told_to_install_postgresql() {
        let empty = tempfile::tempdir().unwrap();
        let err = search(None, BINDIR_VAR, Some(empty.path().into()), &[]).unwrap_err();
        assert!(
            err.contains("initdb and postgres not found")
                && err.contains("apt-get install postgresql"),
            "{err}"
        );
    }

    #[test]
    fn the_newest_major_with_both_programs_wins() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        for (major, programs) in [
            ("13", &SERVER_PROGRAMS[..]),
            ("16", &SERVER_PROGRAMS[..]),
            ("17", &["initdb"][..]),
        ] {
            let bin = root.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            for p in programs {
                std::fs::write(bin.join(p), "").unwrap();
                std::fs::set_permissions(bin.join(p), std::fs::Permissions::from_mode(0o755))
                    .unwrap();
            }
        }
        assert_eq!(
            newest(root.path(), "", "bin"),
            Some(root.path().join("16/bin"))
        );
    }
}
