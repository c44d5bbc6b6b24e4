//! Tests of the harness itself with real lightningd nodes: funding, node
//! lifecycle, loud start-up failures, dead nodes, typed RPC, teardown
//! after a panic, and ports outside the OS's ephemeral range.

mod support;

use std::time::{Duration, Instant};

use cln_itest::cln_rpc::model::requests::GetinfoRequest;
use cln_itest::{pid_alive, Conf, DockerMode, Network, Node, NodeConf};
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

/// The directory a failed network kept, as named in its error text.
fn kept_dir(text: &str) -> Option<std::path::PathBuf> {
    let prefix = std::env::temp_dir().join("itest-").display().to_string();
    text.split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .map(std::path::PathBuf::from)
}

fn assert_channel_normal(node: &Node, peer: &Node, sats: u64) {
    let chans = node
        .call("listpeerchannels", json!({"id": peer.id().unwrap()}))
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
        json!(sats * 1000),
        "{}: {chan:#}",
        node.name()
    );
}

cln_itest::needs_lightningd! {
#[test]
fn fund_channel_reaches_channeld_normal_on_both_sides() {
    let net = Network::start().expect("starting the regtest network");
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_channel(l1, l2, 500_000)
        .expect("funding a channel l1 -> l2");
    assert_channel_normal(l1, l2, 500_000);
    assert_channel_normal(l2, l1, 500_000);
    let info = l1.call("getinfo", json!({})).unwrap();
    assert_eq!(info["num_active_channels"], json!(1));
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_restarted_node_keeps_its_id_port_and_channel() {
    // Both may reconnect by themselves (else they get --dev-no-reconnect).
    let mut conf = Conf::default();
    conf.nodes = vec![NodeConf::default().may_reconnect(); 2];
    let net = Network::with_conf(&conf).expect("starting the regtest network");
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_channel(l1, l2, 400_000).expect("funding l1 -> l2");
    let (id, port, old_pid) = (l2.id().unwrap(), l2.port(), l2.pid().unwrap());

    l2.stop().expect("stopping l2");
    assert!(!l2.is_running());
    assert!(wait_dead(old_pid), "l2's lightningd {old_pid} survived stop");
    let err = l2.call("getinfo", json!({})).expect_err("a stopped node must not answer");
    assert!(err.is_no_reply(), "{err}");
    assert!(err.to_string().contains("l2 is stopped"), "{err}");

    l2.start().expect("starting l2 again");
    assert_ne!(l2.pid(), Some(old_pid));
    assert_eq!(l2.id().unwrap(), id);
    assert_eq!(l2.port(), port);
    // The peers reconnect by themselves (l1 knows l2's address).
    net.wait_channel_state(l2, &l1.id().unwrap(), "CHANNELD_NORMAL").unwrap();
    net.wait_channel_state(l1, &id, "CHANNELD_NORMAL").unwrap();
    assert_channel_normal(l2, l1, 400_000);

    l1.restart().expect("restarting l1");
    net.wait_channel_state(l1, &id, "CHANNELD_NORMAL").unwrap();
    net.mine(1).expect("both nodes follow the chain after restarts");
}
}

cln_itest::needs_lightningd! {
#[test]
fn nodes_can_be_configured_one_by_one_and_added_later() {
    let mut conf = Conf::with_nodes(0);
    conf.nodes = vec![
        NodeConf::default().with_option("--alias=custom-alias"),
        NodeConf::default().not_started(),
    ];
    conf.log_level = "info".into();
    let net = Network::with_conf(&conf).expect("starting the regtest network");
    let info = net.node(0).call("getinfo", json!({})).unwrap();
    assert_eq!(info["alias"], json!("custom-alias"), "the node's option wins");
    let log = std::fs::read_to_string(net.node(0).log_path()).unwrap();
    assert!(!log.contains("DEBUG"), "log-level info must drop DEBUG lines");
    assert!(!net.node(1).is_running(), "l2 was configured not to start");
    net.node(1).start().expect("starting l2 later");
    let l3 = net.add_node(NodeConf::default()).expect("adding l3");
    assert_eq!(l3.name(), "l3");
    assert!(l3.is_running());
    net.mine(2).expect("all three nodes follow the chain");
}
}

cln_itest::needs_lightningd! {
#[test]
fn typed_rpc_and_the_bitcoind_client_agree_with_untyped_calls() {
    use cln_itest::bitcoincore_rpc::RpcApi;
    let net = Network::with_conf(&Conf::with_nodes(1)).expect("starting the regtest network");
    let l1 = net.node(0);
    let typed = l1.call_typed(GetinfoRequest {}).expect("typed getinfo");
    assert_eq!(typed.id.to_string(), l1.id().unwrap());
    assert_eq!(u64::from(typed.blockheight), l1.blockheight().unwrap());
    assert!(l1.socket_path().ends_with("regtest/lightning-rpc"));
    let height = net.bitcoind().client().get_block_count().expect("getblockcount");
    assert_eq!(height, net.bitcoind().height().unwrap());
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_node_that_cannot_start_fails_the_build_loudly_with_its_log() {
    let err = Network::with_conf(&Conf::with_nodes(1).with_node_option("--no-such-option-itest"))
        .expect_err("lightningd must refuse an unknown option");
    let text = format!("{err:#}");
    // The kept directory is named in the error; clean it up before asserting.
    let kept = kept_dir(&text);
    if let Some(dir) = &kept {
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(text.contains("starting the regtest network in"), "{text}");
    assert!(kept.is_some(), "the kept dir must be named in: {text}");
    assert!(text.contains("l1 did not start: exited early"), "{text}");
    assert!(
        text.contains("no-such-option-itest"),
        "log tail missing from: {text}"
    );
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_startup_expected_to_fail_returns_the_error_and_the_log_tail() {
    let mut conf = Conf::with_nodes(1);
    conf.nodes.push(
        NodeConf::default()
            .with_plugin(support::fixture("exits_at_once.sh"), [("no-such", "1")])
            .not_started()
            // Expected, so not a teardown finding.
            .allow_log("plugin-exits_at_once.sh: Killing plugin: "),
    );
    let net = Network::with_conf(&conf).expect("starting the regtest network");
    let err = net.node(1).start().expect_err("a plugin option nobody registers must fail");
    let start = err.start_error().unwrap_or_else(|| panic!("not a StartError: {err}"));
    assert_eq!(start.node, "l2");
    assert!(start.reason.contains("exited early"), "{err}");
    assert!(start.log_tail.contains("no-such"), "log tail: {}", start.log_tail);
    // How it exited is a number, in the error and on the node.
    let status = start.status.clone().expect("lightningd ran and exited");
    assert!(status.code().is_some_and(|c| c != 0), "{status:?}");
    assert_eq!(net.node(1).exit_status(), Some(status));
    assert!(!net.node(1).is_running());
    // The rest of the network is unaffected.
    net.mine(1).expect("l1 still follows the chain");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_node_that_dies_mid_test_is_reported_with_its_log() {
    let mut conf = Conf::with_nodes(1);
    // Killed on purpose below, so its exit is not a teardown finding.
    conf.nodes[0] = NodeConf::default().may_fail();
    let net = Network::with_conf(&conf).expect("starting the regtest network");
    let l1 = net.node(0);
    let pid = l1.pid().unwrap();
    // SAFETY: plain syscall on a child we own.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(wait_dead(pid));
    let err = l1.call("getinfo", json!({})).expect_err("a dead node cannot answer");
    let text = format!("{err:#}");
    assert!(text.contains("l1 DIED"), "{text}");
    let died = err.died().unwrap_or_else(|| panic!("not a death: {text}"));
    assert_eq!(died.status.signal(), Some(libc::SIGKILL), "{text}");
    assert!(text.contains(&l1.log_path().display().to_string()), "{text}");
    assert!(l1.exit_status().is_some());
    let dir = net.dir().to_path_buf();
    drop(net);
    // A dead node keeps the directory for inspection.
    assert!(dir.join("l1").join("log").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_panicking_test_leaves_no_daemon_and_keeps_its_logs() {
    // Run a "test body" that panics on its own thread, as libtest would.
    let (tx, rx) = std::sync::mpsc::channel();
    let joined = std::thread::spawn(move || {
        let net = Network::start().expect("starting the regtest network");
        let plugin = support::fixture("myplugin.py");
        net.node(0)
            .plugin_start(&plugin, &[])
            .expect("plugin start");
        let mut pids: Vec<u32> = net.nodes().iter().filter_map(|n| n.pid()).collect();
        pids.extend(net.bitcoind().pid());
        tx.send((pids, net.dir().to_path_buf())).unwrap();
        panic!("deliberate panic to test teardown");
    })
    .join();
    assert!(joined.is_err(), "the body must have panicked");
    let (pids, dir) = rx.recv().unwrap();
    assert_eq!(pids.len(), 3);
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

cln_itest::needs_lightningd! {
/// l1 runs `LIGHTNINGD`, l2 runs `ITEST_OTHER_LIGHTNINGD` (default: the
/// same binary), e.g. v26.06 beside v23.02 for upgrade tests.
#[test]
fn nodes_of_different_releases_open_a_channel() {
    let other = std::env::var_os("ITEST_OTHER_LIGHTNINGD").filter(|v| !v.is_empty());
    let mut conf = Conf::with_nodes(1);
    let mut second = NodeConf::default();
    if let Some(path) = &other {
        second = second.with_lightningd(path);
    }
    conf.nodes.push(second);
    let net = Network::with_conf(&conf).expect("starting the regtest network");
    let (l1, l2) = (net.node(0), net.node(1));
    if let Some(path) = &other {
        assert_eq!(l2.lightningd(), std::path::Path::new(path));
    }
    for node in [l1, l2] {
        let reported = node.call("getinfo", json!({})).unwrap()["version"].clone();
        let reported = cln_itest::Version::parse(reported.as_str().unwrap()).unwrap();
        assert_eq!(reported, node.version(), "{} runs its own binary", node.name());
    }
    eprintln!("mixed network: l1 {} + l2 {}", l1.version(), l2.version());
    net.fund_channel(l1, l2, 300_000).expect("funding l1 -> l2");
    assert_channel_normal(l2, l1, 300_000);
}
}

cln_itest::needs_lightningd! {
/// The timeline says where a network's time went, and shows that the
/// nodes start while bitcoind is still getting ready: each lightningd is
/// launched before bitcoind's first blocks are mined, yet is only ready
/// (synced) after them, because its proxy held its chain calls until then.
#[test]
fn the_timeline_shows_nodes_starting_while_bitcoind_gets_ready() {
    let net = Network::start().expect("starting the regtest network");
    net.fund_wallet(net.node(0), 100_000).unwrap();
    let steps = net.timeline();
    let find = |what: &str| {
        steps
            .iter()
            .find(|s| s.what == what)
            .unwrap_or_else(|| panic!("no step {what:?} in {steps:#?}"))
    };
    let blocks = find(&format!(
        "bitcoind: {} blocks mined",
        net.conf().initial_blocks
    ));
    let blocks_end = blocks.began + blocks.took;
    for name in ["l1", "l2"] {
        let launched = find(&format!("{name}: lightningd launched"));
        let ready = find(&format!(
            "{name}: lightningd ready (synced, plugins active)"
        ));
        assert!(
            launched.began < blocks_end,
            "{name} was launched only after bitcoind was ready: {steps:#?}"
        );
        assert!(
            ready.began + ready.took >= blocks_end,
            "{name} was ready before bitcoind had its blocks: {steps:#?}"
        );
    }
    let funded = find("l1 wallet(s) funded with 100000 sat");
    assert!(funded.took > Duration::ZERO);
    assert!(
        steps.iter().any(|s| s.what.starts_with("nodes at block ")),
        "funding waits for the nodes to see its block: {steps:#?}"
    );
}
}

/// The range the OS gives outgoing connections their local ports from,
/// read here as the OS tells it (not through the harness).
fn ephemeral_range() -> std::ops::RangeInclusive<u16> {
    let numbers: Vec<u16> = match std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
    {
        Ok(text) => text
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect(),
        // macOS and the BSDs.
        Err(_) => ["net.inet.ip.portrange.first", "net.inet.ip.portrange.last"]
            .iter()
            .map(|name| {
                let out = std::process::Command::new("sysctl")
                    .args(["-n", name])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
            })
            .collect(),
    };
    numbers[0]..=numbers[1]
}

cln_itest::needs_lightningd! {
/// Every port the harness picks (bitcoind's RPC, each node's peer port,
/// cln-grpc's where it runs, each node's bitcoind proxy) lies outside the
/// ephemeral range, where no outgoing connection can take it first.
#[test]
fn a_networks_ports_lie_outside_the_ephemeral_range() {
    let net = Network::line_graph(2).unwrap();
    // Isolated containers' ports are published where the engine likes;
    // the harness picks only the proxies' there (in this process).
    let picked_here = net.docker_mode() != Some(DockerMode::Isolated);
    let ephemeral = ephemeral_range();
    let mut ports = Vec::new();
    if picked_here {
        ports.push(("bitcoind RPC".to_string(), net.bitcoind().rpc_port()));
    }
    for node in net.nodes() {
        let name = node.name();
        ports.push((format!("{name} bitcoind proxy"), node.bitcoind_proxy().port()));
        if !picked_here {
            continue;
        }
        ports.push((format!("{name} peer"), node.port()));
        // lightningd listens where it was told.
        let info = node.call("getinfo", json!({})).unwrap();
        assert_eq!(info["binding"][0]["port"], json!(node.port()), "{info}");
        let grpc = node.call("listconfigs", json!({"config": "grpc-port"}));
        if let Some(port) = grpc.ok().and_then(|c| c["configs"]["grpc-port"]["value_int"].as_u64()) {
            ports.push((format!("{name} cln-grpc"), port as u16));
        }
    }
    assert!(ports.len() >= 2, "{ports:?}");
    for (what, port) in &ports {
        assert!(
            !ephemeral.contains(port) && *port >= 1024,
            "{what} port {port} lies in the ephemeral range {ephemeral:?}"
        );
    }
}
}
