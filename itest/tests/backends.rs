//! Choosing where daemons run (`Conf::*_backend`), through the public API
//! only. The container mechanics themselves are unit-tested in
//! `src/daemon/docker/tests.rs`; the conformance suite runs unchanged on either
//! backend (`ITEST_BACKEND=docker cargo test -p cln-itest --test conformance`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cln_itest::{pid_alive, Backend, Conf, Network, NodeConf};

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
    let pid = btc.pid().expect("the container's pid on this machine");
    assert!(pid_alive(pid));
    let ours = cln_itest::docker::containers_of_this_process().unwrap();
    assert!(!ours.is_empty(), "no container labelled as ours");
    let dir = net.dir().to_path_buf();
    drop(net);
    assert!(!pid_alive(pid), "bitcoind (pid {pid}) survived the network");
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
    match conf.lightningd_backend {
        Backend::Docker => {
            // Refused before lightningd is asked, saying why.
            assert_eq!(err.rpc_code(), None, "{err}");
            let text = err.to_string();
            for part in ["runs in a container", "cannot see", "Conf::container_mounts"] {
                assert!(text.contains(part), "{part:?} missing: {err}");
            }
            assert!(text.contains(&plugin.display().to_string()), "{err}");
        }
        Backend::Native => {
            // Natively lightningd runs it, and it exits at once.
            assert_eq!(err.rpc_code(), Some(-3), "{err}");
            assert!(!err.rpc_message().unwrap().contains("container"), "{err}");
        }
    }
}
}
