//! Tests of the harness itself with real lightningd nodes: funding,
//! loud start-up failures and teardown after a panic.

use std::time::{Duration, Instant};

use itest::process::pid_alive;
use itest::Network;
use serde_json::json;

fn wait_dead(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

itest::needs_lightningd! {
#[test]
fn fund_channel_reaches_channeld_normal_on_both_sides() {
    let net = Network::start().expect("starting the regtest network");
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_channel(l1, l2, 500_000)
        .expect("funding a channel l1 -> l2");
    for (node, peer) in [(l1, l2), (l2, l1)] {
        let chans = node
            .rpc("listpeerchannels", json!({"id": peer.id().unwrap()}))
            .unwrap();
        let chan = &chans["channels"][0];
        assert_eq!(
            chan["state"],
            json!("CHANNELD_NORMAL"),
            "{}: {chan:#}",
            node.name()
        );
        assert_eq!(
            chan["total_msat"],
            json!(500_000_000),
            "{}: {chan:#}",
            node.name()
        );
    }
    let info = l1.rpc("getinfo", json!({})).unwrap();
    assert_eq!(info["num_active_channels"], json!(1));
}
}

itest::needs_lightningd! {
#[test]
fn a_node_that_cannot_start_fails_loudly_with_its_log() {
    let err = Network::builder()
        .nodes(1)
        .node_arg("--no-such-option-itest")
        .build()
        .expect_err("lightningd must refuse an unknown option");
    let text = format!("{err:#}");
    // The kept directory is named in the error; clean it up before asserting.
    let kept = text
        .split_whitespace()
        .find(|w| w.starts_with(&std::env::temp_dir().join("itest-").display().to_string()))
        .map(std::path::PathBuf::from);
    if let Some(dir) = &kept {
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(text.contains("starting the regtest network in"), "{text}");
    assert!(kept.is_some(), "the kept dir must be named in: {text}");
    assert!(text.contains("l1 exited early"), "{text}");
    assert!(
        text.contains("no-such-option-itest"),
        "log tail missing from: {text}"
    );
}
}

itest::needs_lightningd! {
#[test]
fn a_panicking_test_leaves_no_daemon_and_keeps_its_logs() {
    // Run a "test body" that panics on its own thread, as libtest would.
    let (tx, rx) = std::sync::mpsc::channel();
    let joined = std::thread::spawn(move || {
        let net = Network::start().expect("starting the regtest network");
        let plugin = itest::plugin::fixture("myplugin.py");
        net.node(0)
            .plugin_start(&plugin, &[])
            .expect("plugin start");
        let mut pids: Vec<u32> = net.nodes().iter().map(|n| n.pid()).collect();
        pids.push(net.bitcoind().pid());
        tx.send((pids, net.dir().to_path_buf())).unwrap();
        panic!("deliberate panic to test teardown");
    })
    .join();
    assert!(joined.is_err(), "the body must have panicked");
    let (pids, dir) = rx.recv().unwrap();
    for pid in &pids {
        assert!(wait_dead(*pid), "daemon {pid} survived the panic");
    }
    let plugin_procs = std::process::Command::new("pgrep")
        .args(["-f", &dir.display().to_string()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        dir.join("l1").join("log").is_file(),
        "logs of a failed test must be kept in {}",
        dir.display()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        plugin_procs.trim(),
        "",
        "processes still mention {}",
        dir.display()
    );
}
}
