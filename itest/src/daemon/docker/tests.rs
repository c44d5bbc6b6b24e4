//! The container layer of the docker backend for containers that share
//! this machine (`DockerMode::Host`; isolated ones are `isolated_tests`),
//! against a real engine and a real bitcoind image (`ITEST_BITCOIND_IMAGE`, e.g. the one
//! `scripts/images.sh bitcoind` prints; else the default public image).
//!
//! These check what makes a container look like a native daemon to the
//! harness: loopback ports, same paths, host uid, log files, removal on
//! drop, an early exit explained by its log, and removal of containers
//! whose owner was SIGKILLed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::container::Container;
use super::image::ImageRef;
use super::spec::{ContainerSpec, Sharing};
use crate::daemon::native::liveness::pid_alive;
use crate::ports;

pub(super) fn bitcoind_image() -> ImageRef {
    std::env::var("ITEST_BITCOIND_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| crate::probe::images::DEFAULT_BITCOIND_IMAGE.to_string())
        .parse()
        .expect("ITEST_BITCOIND_IMAGE must be name:tag")
}

/// A regtest bitcoind in a container, its datadir in `dir`, RPC on `port`.
fn bitcoind_spec(dir: &Path, port: u16, extra: &[&str]) -> ContainerSpec {
    let datadir = dir.join("bitcoind");
    std::fs::create_dir_all(&datadir).unwrap();
    let mut args: Vec<String> = [
        "-regtest".to_string(),
        format!("-datadir={}", datadir.display()),
        "-server".into(),
        "-listen=0".into(),
        "-printtoconsole=0".into(),
        "-rpcbind=127.0.0.1".into(),
        "-rpcallowip=127.0.0.1".into(),
        format!("-rpcport={port}"),
        "-rpcuser=u".into(),
        "-rpcpassword=p".into(),
    ]
    .into();
    args.extend(extra.iter().map(|s| s.to_string()));
    ContainerSpec {
        name: "bitcoind".into(),
        image: bitcoind_image(),
        entrypoint: "bitcoind".into(),
        args,
        env: Vec::new(),
        log_dir: dir.to_path_buf(),
        daemon_log: datadir.join("regtest").join("debug.log"),
        owner_dir: dir.to_path_buf(),
        workdir: None,
        sharing: Sharing::Host {
            mounts: vec![dir.to_path_buf()],
        },
    }
}

/// One JSON-RPC call over plain HTTP (user `u`, password `p`); the body of
/// a 200 reply.
fn rpc(port: u16, method: &str) -> Option<String> {
    rpc_at("127.0.0.1", port, method, "[]")
}

/// [`rpc`] to `host:port` with `params` (a JSON array).
pub(super) fn rpc_at(host: &str, port: u16, method: &str, params: &str) -> Option<String> {
    let mut stream = TcpStream::connect((host, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = format!(r#"{{"jsonrpc":"1.0","id":1,"method":"{method}","params":{params}}}"#);
    // base64("u:p") = "dTpw"
    let request = format!(
        "POST / HTTP/1.0\r\nConnection: close\r\nAuthorization: Basic dTpw\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_string())
}

pub(super) fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_not_listed(id: &str) {
    let ours = super::containers_of_this_process().unwrap();
    assert!(!ours.iter().any(|c| c == id), "container {id} left behind");
}

needs_shared_docker! {
#[test]
fn a_bitcoind_container_looks_native_and_is_removed_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let port = ports::reserve().unwrap();
    let container = Container::start(&bitcoind_spec(dir.path(), port.port(), &[])).unwrap();
    let id = container.id().to_string();

    // Host networking: RPC on the loopback port the harness reserved.
    let info = wait_for("bitcoind RPC", Duration::from_secs(30), || {
        rpc(port.port(), "getblockchaininfo")
    });
    assert!(info.contains(r#""chain":"regtest""#), "{info}");

    // Same path inside and out, written as the host user.
    let log = dir.path().join("bitcoind/regtest/debug.log");
    let meta = std::fs::metadata(&log).expect("bitcoind's debug.log in the mounted datadir");
    // SAFETY: plain syscalls without memory arguments.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));

    assert!(container.exited().is_none());
    let pid = crate::daemon::boundary::Daemon::pid(&container).unwrap_or(0);
    assert!(pid > 0 && pid_alive(pid), "host pid {pid}");
    assert!(super::containers_of_this_process().unwrap().contains(&id));

    drop(container);
    assert!(!pid_alive(pid), "bitcoind (host pid {pid}) survived drop");
    assert_not_listed(&id);
    // Everything it wrote can be deleted by the test.
    dir.close().unwrap();
}
}

needs_shared_docker! {
#[test]
fn a_container_that_exits_during_startup_is_explained_by_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = ports::reserve().unwrap();
    let spec = bitcoind_spec(dir.path(), port.port(), &["-nosuchoption"]);
    let container = Container::start(&spec).unwrap();
    assert!(container.wait_exit(Duration::from_secs(30)), "bitcoind kept running");
    let why = container.exited().expect("exited");
    assert!(why.to_string().contains("exited with code 1"), "{why}");
    assert_eq!(why.code(), Some(1), "{why:?}");
    assert!(!why.success(), "{why:?}");
    let tail = container.log_tail(10);
    assert!(tail.contains("nosuchoption"), "log tail lacks the error:\n{tail}");
    assert!(tail.contains("bitcoind.stderr"), "log tail names its file:\n{tail}");
    let id = container.id().to_string();
    drop(container);
    assert_not_listed(&id);
}
}

needs_docker! {
#[test]
fn a_mount_that_does_not_exist_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = bitcoind_spec(dir.path(), 1, &[]);
    spec.sharing = Sharing::Host {
        mounts: vec![dir.path().to_path_buf(), PathBuf::from("/nonexistent/itest-plugin-dir")],
    };
    let err = Container::start(&spec).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/itest-plugin-dir"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
}
}

needs_shared_docker! {
#[test]
fn a_missing_image_says_how_to_build_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = bitcoind_spec(dir.path(), 1, &[]);
    spec.image = "itest-no-such-image:never".parse().unwrap();
    let err = format!("{:#}", Container::start(&spec).unwrap_err());
    assert!(err.contains("itest-no-such-image:never"), "{err}");
    assert!(err.contains("scripts/images.sh"), "{err}");
}
}

needs_shared_docker! {
#[tokio::test(flavor = "current_thread")]
async fn containers_start_and_drop_inside_a_tokio_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let port = ports::reserve().unwrap();
    let container = Container::start(&bitcoind_spec(dir.path(), port.port(), &[])).unwrap();
    let id = container.id().to_string();
    assert!(container.exited().is_none());
    drop(container);
    assert_not_listed(&id);
}
}

/// Set in the child copy of this test binary that the tests below kill:
/// the directory for its container's files.
const CHILD_DIR: &str = "ITEST_DOCKER_TEST_CHILD_DIR";

/// Runs `test` (this binary's test of that name) in a child process that
/// starts a container and hangs, SIGKILLs the child once the container
/// runs, and returns the container's id. `path` is the child's PATH.
fn container_of_a_killed_child(test: &str, dir: &Path, path: &std::ffi::OsStr) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(CHILD_DIR, dir)
        .env("PATH", path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let id = lines
        .find_map(|l| l.ok()?.strip_prefix("container-id ").map(str::to_string))
        .expect("the child printed no container id");
    // SIGKILL: no Drop runs.
    child.kill().unwrap();
    child.wait().unwrap();
    id
}

/// The child role: starts a container, prints its id, waits to be killed.
fn child_role() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let port = ports::reserve().unwrap();
    let container = Container::start(&bitcoind_spec(Path::new(&dir), port.port(), &[])).unwrap();
    println!("container-id {}", container.id());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(300));
    unreachable!("the parent test kills this process");
}

pub(super) fn container_exists(id: &str) -> bool {
    super::runtime::block_on(async {
        super::engine::client()
            .unwrap()
            .inspect_container(id, None)
            .await
            .is_ok()
    })
    .unwrap()
}

needs_shared_docker! {
#[test]
fn the_container_of_a_sigkilled_test_is_removed_at_once() {
    child_role();
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let id = container_of_a_killed_child(
        "daemon::docker::tests::the_container_of_a_sigkilled_test_is_removed_at_once",
        dir.path(),
        &path,
    );
    // The sidecar removes it; no reaping involved.
    wait_for("the sidecar to remove the container", Duration::from_secs(20), || {
        (!container_exists(&id)).then_some(())
    });
}
}

needs_shared_docker! {
#[test]
fn containers_of_a_killed_owner_without_a_sidecar_are_reaped() {
    child_role();
    let dir = tempfile::tempdir().unwrap();
    // No `docker` CLI on the child's PATH: no sidecar, the container stays.
    let id = container_of_a_killed_child(
        "daemon::docker::tests::containers_of_a_killed_owner_without_a_sidecar_are_reaped",
        dir.path(),
        "/nonexistent".as_ref(),
    );
    assert!(container_exists(&id), "{id} vanished without reaping");
    let reaped = super::reap_orphans().unwrap();
    assert!(reaped.contains(&id), "{id} not reaped (reaped: {reaped:?})");
    assert!(!container_exists(&id));
    // Our own containers are never orphans.
    let port = ports::reserve().unwrap();
    let mine = Container::start(&bitcoind_spec(dir.path(), port.port(), &[])).unwrap();
    let reaped = super::reap_orphans().unwrap();
    assert!(!reaped.contains(&mine.id().to_string()));
    assert!(mine.exited().is_none());
}
}
