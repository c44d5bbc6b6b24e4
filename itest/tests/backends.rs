//! Choosing where daemons run (`Conf::*_backend`), through the public API
//! only. The container mechanics themselves are unit-tested in
//! `src/daemon/docker/tests.rs`; the conformance suite runs unchanged on either
//! backend (`ITEST_BACKEND=docker cargo test -p cln-itest --test conformance`).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use cln_itest::{pid_alive, Backend, Conf, DockerMode, Network, NodeConf};
use serde_json::json;

mod support;

cln_itest::needs_docker! {
#[test]
fn code_can_put_bitcoind_in_a_container() {
    let mut conf = Conf::with_nodes(0);
    conf.bitcoind_backend = Backend::Docker;
    let net = Network::with_conf(&conf).expect("bitcoind in a container");
    let btc = net.bitcoind();
    assert_eq!(btc.height().unwrap(), conf.initial_blocks);
    assert_eq!(btc.balance_sats().unwrap(), 50 * 100_000_000);
    // Its files are where a native bitcoind puts them, and ours.
    let log = btc.datadir().join("regtest").join("debug.log");
    // SAFETY: a plain syscall without arguments.
    let uid = unsafe { libc::getuid() };
    assert_eq!(std::fs::metadata(&log).expect("debug.log").uid(), uid);
    // A container's process is one of this machine's where the engine
    // runs here; an isolated container may be on another machine.
    let pid = btc.pid();
    if pid.is_none() {
        assert_eq!(net.docker_mode(), Some(DockerMode::Isolated));
    }
    assert!(pid.is_none_or(pid_alive), "{pid:?}");
    let ours = cln_itest::docker::containers_of_this_process().unwrap();
    assert!(!ours.is_empty(), "no container labelled as ours");
    let dir = net.dir().to_path_buf();
    drop(net);
    assert!(pid.is_none_or(|p| !pid_alive(p)), "bitcoind ({pid:?}) survived the network");
    assert!(!dir.exists() || conf.keep_dirs, "{} left behind", dir.display());
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_plugin_outside_the_containers_mounts_is_refused_with_the_reason() {
    // A plugin in a directory no container sees (not the temp root, the
    // target dir, nor this package).
    let outside = tempfile::Builder::new()
        .prefix("itest-outside-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let plugin = outside.path().join("exits_at_once.sh");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exits_at_once.sh");
    std::fs::copy(&fixture, &plugin).unwrap();

    let mut conf = Conf::with_nodes(1);
    // Natively the plugin starts and dies before getmanifest, which
    // lightningd logs as killing it: expected here.
    conf.nodes[0] = NodeConf::default().allow_log("plugin-exits_at_once.sh: Killing plugin: ");
    let net = Network::with_conf(&conf).expect("starting the network");
    let err = net.node(0).plugin_start(&plugin, &[]).expect_err("must fail");
    let shares_mounts = conf.lightningd_backend == Backend::Docker
        && net.docker_mode() == Some(DockerMode::Host);
    if shares_mounts {
        // Refused before lightningd is asked, saying why.
        assert_eq!(err.rpc_code(), None, "{err}");
        let text = err.to_string();
        for part in ["runs in a container", "cannot see", "Conf::container_mounts"] {
            assert!(text.contains(part), "{part:?} missing: {err}");
        }
        assert!(text.contains(&plugin.display().to_string()), "{err}");
    } else {
        // Natively (or copied into an isolated container) lightningd runs
        // it, and it exits at once.
        assert_eq!(err.rpc_code(), Some(-3), "{err}");
        assert!(!err.rpc_message().unwrap().contains("container"), "{err}");
    }
}
}

cln_itest::needs_docker_daemons! {
#[test]
fn an_isolated_network_shares_nothing_with_this_machine_and_reads_the_same() {
    let mut conf = Conf::with_nodes(2);
    conf.bitcoind_backend = Backend::Docker;
    conf.lightningd_backend = Backend::Docker;
    conf.docker_mode = DockerMode::Isolated;
    // A startup plugin: a script that imports a module beside it.
    conf.nodes[0] = NodeConf::default().with_plugin(support::fixture("myplugin.py"), [("foo_opt", "inside")]);
    conf.nodes[1] = NodeConf::default().allow_log("plugin-exits_at_once.sh: Killing plugin: ");
    let net = Network::with_conf(&conf).expect("an isolated network");
    assert_eq!(net.docker_mode(), Some(DockerMode::Isolated));
    let (l1, l2) = (net.node(0), net.node(1));

    // The RPC socket is at its usual path here, the log in its usual file.
    let socket = std::fs::symlink_metadata(l1.socket_path()).expect("the RPC socket here");
    assert!(socket.file_type().is_socket());
    let reply = l1.call("myplugin", json!([])).expect("the startup plugin answers");
    assert_eq!(reply["option"]["foo_opt"], json!("inside"));
    assert!(
        l1.is_in_log("Server started with public key").unwrap().is_some(),
        "lightningd's log, here"
    );

    // Peers reach each other on the container network; a restarted node
    // keeps its state (a volume), and its directory is fetched back.
    net.fund_channel(l1, l2, 200_000).expect("a channel between containers");
    let id = l2.id().unwrap();
    l2.stop().unwrap();
    assert!(l2.lightning_dir().join("regtest/lightningd.sqlite3").is_file(), "database not fetched back");
    l2.start().expect("restarting l2");
    assert_eq!(l2.id().unwrap(), id);
    net.wait_channel_state(l1, &id, "CHANNELD_NORMAL").unwrap();

    // A plugin anywhere on this machine is copied in: lightningd runs it
    // (and it exits at once), rather than not finding it.
    let outside = tempfile::Builder::new().prefix("itest-outside-").tempdir_in("/var/tmp").unwrap();
    let plugin = outside.path().join("exits_at_once.sh");
    std::fs::copy(support::fixture("exits_at_once.sh"), &plugin).unwrap();
    let err = l2.plugin_start(&plugin, &[]).expect_err("it exits before getmanifest");
    assert_eq!(err.rpc_code(), Some(-3), "{err}");

    // A program for another machine is refused, saying why.
    let mac = outside.path().join("macos-plugin");
    std::fs::write(&mac, [0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]).unwrap();
    std::fs::set_permissions(&mac, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = l2.plugin_start(&mac, &[]).expect_err("a macOS program cannot run there");
    assert_eq!(err.rpc_code(), None, "{err}");
    let text = err.to_string();
    assert!(text.contains("macOS") && text.contains("cannot run in a container"), "{err}");
}
}
