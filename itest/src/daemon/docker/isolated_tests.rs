//! Isolated containers against a real engine and the bitcoind image: what
//! makes a container that shares nothing with this machine usable by the
//! harness. Its ports are reached where the engine publishes them, its
//! state outlives it in a volume, files go in before and while it runs and
//! its state comes back, it reaches this machine by the way back, an image
//! that cannot forward a socket says so, and a killed owner's network and
//! volumes are reaped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use super::container::Container;
use super::isolation::Isolation;
use super::spec::{ContainerSpec, IsolatedSpec, Sharing};
use super::tests::{bitcoind_image, rpc_at, wait_for};
use super::{engine, runtime};
use crate::daemon::boundary::{Daemon, Side};

/// A spec running `entrypoint args` isolated on `net`, its files in `dir`.
fn isolated(
    dir: &Path,
    net: &Arc<Isolation>,
    entrypoint: &str,
    args: Vec<String>,
    iso: impl FnOnce(&mut IsolatedSpec),
) -> ContainerSpec {
    let mut spec = IsolatedSpec {
        net: net.clone(),
        inputs: Vec::new(),
        dirs: Vec::new(),
        state: None,
        fetch_state: false,
        ports: Vec::new(),
        socket: None,
        log_to_stdout: false,
    };
    iso(&mut spec);
    ContainerSpec {
        name: "daemon".into(),
        image: bitcoind_image(),
        entrypoint: entrypoint.into(),
        args,
        env: Vec::new(),
        log_dir: dir.to_path_buf(),
        daemon_log: dir.join("daemon.log"),
        owner_dir: dir.to_path_buf(),
        workdir: None,
        sharing: Sharing::Isolated(spec),
    }
}

/// A regtest bitcoind with its datadir in a volume, logging to stdout.
fn bitcoind(dir: &Path, net: &Arc<Isolation>) -> ContainerSpec {
    let datadir = dir.join("bitcoind");
    let args = [
        "-regtest".to_string(),
        format!("-datadir={}", datadir.display()),
        "-server".into(),
        "-listen=0".into(),
        "-printtoconsole=1".into(),
        "-nodebuglogfile".into(),
        "-rpcbind=0.0.0.0".into(),
        "-rpcallowip=0.0.0.0/0".into(),
        "-rpcport=18443".into(),
        "-rpcuser=u".into(),
        "-rpcpassword=p".into(),
    ];
    let mut spec = isolated(dir, net, "bitcoind", args.into(), |iso| {
        iso.state = Some(datadir.clone());
        iso.ports = vec![18443];
        iso.log_to_stdout = true;
    });
    spec.name = "bitcoind".into();
    spec
}

fn engine_has(kind: &str, name: &str) -> bool {
    runtime::block_on(async {
        let docker = engine::client().unwrap();
        match kind {
            "network" => docker.inspect_network(name, None).await.is_ok(),
            _ => docker.inspect_volume(name).await.is_ok(),
        }
    })
    .unwrap()
}

needs_docker! {
#[test]
fn an_isolated_bitcoind_is_reached_where_published_and_keeps_its_state_in_a_volume() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(Isolation::create(dir.path()).unwrap());
    let network = net.network().to_string();
    let spec = bitcoind(dir.path(), &net);

    let first = Container::start(&spec).unwrap();
    let (host, port) = first.address(18443, Side::ThisMachine).expect("a published port");
    let inside = first.address(18443, Side::ContainerNetwork).expect("an address on its network");
    assert_eq!(inside.1, 18443);
    assert_ne!(inside.0, host, "the container network's address is not this machine's view");
    wait_for("bitcoind RPC", Duration::from_secs(30), || {
        rpc_at(&host, port, "createwallet", r#"["kept"]"#)
    });
    // Its stdout is its log file here.
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(log.contains("Bitcoin"), "{log}");
    drop(first);

    // A new container of the same daemon: the same volume, the same port.
    let second = Container::start(&spec).unwrap();
    assert_eq!(second.address(18443, Side::ThisMachine), Some((host.clone(), port)));
    let wallets = wait_for("bitcoind RPC again", Duration::from_secs(30), || {
        rpc_at(&host, port, "listwalletdir", "[]")
    });
    assert!(wallets.contains(r#""name":"kept""#), "{wallets}");
    drop(second);

    let volume = format!("{network}-bitcoind");
    assert!(engine_has("network", &network) && engine_has("volume", &volume));
    drop(spec);
    drop(net);
    assert!(!engine_has("network", &network), "{network} outlived its network");
    assert!(!engine_has("volume", &volume), "{volume} outlived its network");
}
}

needs_docker! {
#[test]
fn files_go_in_before_and_while_it_runs_and_its_state_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(Isolation::create(dir.path()).unwrap());
    let state = dir.path().join("state");
    let input = dir.path().join("in/tool.sh");
    let later = dir.path().join("later/data.txt");
    let empty = dir.path().join("made/empty");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    std::fs::write(&input, "#!/bin/sh\necho tool\n").unwrap();
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(later.parent().unwrap()).unwrap();
    std::fs::write(&later, "later").unwrap();
    let script = format!(
        "set -e; {input} > {state}/ran; test -d {empty}; \
         while [ ! -f {later} ]; do sleep 0.1; done; cp {later} {state}/copied",
        input = input.display(),
        state = state.display(),
        empty = empty.display(),
        later = later.display(),
    );
    let spec = isolated(dir.path(), &net, "sh", vec!["-c".into(), script], |iso| {
        iso.inputs = vec![input.clone()];
        iso.dirs = vec![empty.clone()];
        iso.state = Some(state.clone());
        iso.fetch_state = true;
    });
    let container = Container::start(&spec).unwrap();
    container.provide(&later).expect("copied into the running container");
    assert!(container.wait_exit(Duration::from_secs(30)), "the script kept waiting");
    let ended = container.exited().unwrap();
    assert!(ended.success(), "{ended:?}\n{}", container.log_tail(20));
    container.remove();
    // Nothing was shared: what it wrote came back when it stopped.
    assert_eq!(std::fs::read_to_string(state.join("ran")).unwrap(), "tool\n");
    assert_eq!(std::fs::read_to_string(state.join("copied")).unwrap(), "later");

    // A program for another machine does not go in.
    let running = Container::start(&isolated(dir.path(), &net, "sleep", vec!["300".into()], |_| {})).unwrap();
    let mac = dir.path().join("mac-tool");
    std::fs::write(&mac, [0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]).unwrap();
    let err = running.provide(&mac).unwrap_err();
    assert!(err.contains("macOS") && err.contains(&mac.display().to_string()), "{err}");
}
}

needs_docker! {
#[test]
fn an_isolated_container_reaches_this_machine_by_the_way_back() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(Isolation::create(dir.path()).unwrap());
    let way = net.way_back().expect("a way back to this machine");
    // A one-call JSON-RPC server here, on the address containers reach.
    let listener = TcpListener::bind((way.bind, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
        let body = r#"{"result":4242,"error":null,"id":1}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(reply.as_bytes()).unwrap();
    });
    let args = [
        "-regtest".to_string(),
        format!("-rpcconnect={}", way.host),
        format!("-rpcport={port}"),
        "-rpcuser=u".into(),
        "-rpcpassword=p".into(),
        "getblockcount".into(),
    ];
    let container = Container::start(&isolated(dir.path(), &net, "bitcoin-cli", args.into(), |_| {})).unwrap();
    assert!(container.wait_exit(Duration::from_secs(30)));
    let ended = container.exited().unwrap();
    container.remove();
    let out = std::fs::read_to_string(dir.path().join("daemon.stdout")).unwrap();
    assert!(ended.success() && out.trim() == "4242", "{ended:?}: {out:?}");
}
}

needs_docker! {
#[test]
fn an_image_that_cannot_forward_a_socket_says_so() {
    // The bitcoind image has neither socat nor python3.
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(Isolation::create(dir.path()).unwrap());
    let spec = isolated(dir.path(), &net, "sleep", vec!["300".into()], |iso| {
        iso.socket = Some(dir.path().join("rpc"));
    });
    let said = match Container::start(&spec) {
        Ok(container) => {
            assert!(container.wait_exit(Duration::from_secs(30)));
            container.log_tail(10)
        }
        Err(e) => format!("{e:#}"),
    };
    assert!(said.contains("neither socat nor python3"), "{said}");
}
}

/// Set in the child copy of this test binary: the directory for the
/// network it creates before it is killed.
const CHILD_DIR: &str = "ITEST_ISOLATION_TEST_CHILD_DIR";

needs_docker! {
#[test]
fn the_network_and_volumes_of_a_killed_owner_are_reaped() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let net = Isolation::create(Path::new(&dir)).unwrap();
        let volume = net.volume("l1", &PathBuf::from(&dir).join("l1")).unwrap();
        println!("names {} {volume}", net.network());
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_secs(300));
        unreachable!("the parent test kills this process");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "daemon::docker::isolated_tests::the_network_and_volumes_of_a_killed_owner_are_reaped",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let names = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .find_map(|l| l.ok()?.strip_prefix("names ").map(str::to_string))
        .expect("the child printed no names");
    let (network, volume) = names.split_once(' ').unwrap();
    // SIGKILL: no Drop runs.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(engine_has("network", network) && engine_has("volume", volume));
    let reaped = super::reap_orphans().unwrap();
    assert!(reaped.iter().any(|r| r == network), "{reaped:?}");
    assert!(reaped.iter().any(|r| r == volume), "{reaped:?}");
    assert!(!engine_has("network", network) && !engine_has("volume", volume));
}
}
