//! A node's life and its RPC on real lightningd: calls that run side by
//! side, per-call limits and background calls, the stop budget, clean
//! stops counted as stops, exact numbers, settings changed between starts,
//! two-step starts and expected exits. The fixture `lifecycle_plugin.py`
//! holds calls open on request, shuts down slowly on request, and answers
//! with numbers written out in full.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use cln_itest::{Conf, Network, NodeConf, NodeState, PluginConf};
use serde_json::{json, Value};
use tempfile::TempDir;

use support::fixture;

fn plugin() -> std::path::PathBuf {
    fixture("lifecycle_plugin.py")
}

/// A network of `nodes` in a temp root the test owns (so a kept directory
/// is removed with it).
fn network(nodes: Vec<NodeConf>) -> (TempDir, Network) {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::with_nodes(0);
    conf.nodes = nodes;
    conf.tmp_root = Some(root.path().to_path_buf());
    let net = Network::with_conf(&conf).expect("starting the network");
    (root, net)
}

fn with_plugin(node: NodeConf) -> NodeConf {
    node.with_plugin(plugin(), [])
}

cln_itest::needs_lightningd! {
#[test]
fn a_call_never_waits_behind_another_call_on_the_same_node() {
    let (_root, net) = network(vec![with_plugin(NodeConf::default())]);
    let l1 = net.node(0);
    std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::channel();
        let held = s.spawn(move || {
            let reply = l1.call_with_timeout("hold", json!({}), Duration::from_secs(30));
            done_tx.send(()).unwrap();
            reply
        });
        // lightningd has passed `hold` to the plugin: the call is in flight.
        l1.wait_for_log("plugin-lifecycle_plugin.py: hold: holding").unwrap();
        let info = l1.call("getinfo", json!({})).expect("getinfo beside a held call");
        assert!(
            done_rx.try_recv().is_err(),
            "`hold` finished before `getinfo` answered, so getinfo did not run beside it"
        );
        assert_eq!(info["id"], json!(l1.id().unwrap()));
        let released = l1.call("release", json!({})).expect("release beside a held call");
        assert_eq!(released, json!({"released": 1}));
        assert_eq!(held.join().unwrap().expect("the held call"), json!({"released": true}));
    });
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_background_call_is_collected_later_while_the_node_answers_others() {
    let (_root, net) = network(vec![NodeConf::default()]);
    let l1 = net.node(0);
    let height = l1.blockheight().unwrap();
    let waiting = l1.spawn_call("waitblockheight", json!({"blockheight": height + 2}));
    // Two blocks ahead, so it cannot have finished yet.
    assert_eq!(l1.blockheight().unwrap(), height, "getinfo beside the background call");
    assert!(!waiting.is_finished(), "waitblockheight {} returned early", height + 2);
    net.mine(2).unwrap();
    let reply = waiting.wait().expect("waitblockheight once mined");
    assert_eq!(reply["blockheight"], json!(height + 2));
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_call_has_its_own_limit() {
    let (_root, net) = network(vec![with_plugin(NodeConf::default())]);
    let l1 = net.node(0);
    let err = l1
        .call_with_timeout("hold", json!({}), Duration::from_millis(500))
        .expect_err("hold answers only once released");
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("a reply to `hold`"), "{err}");
    // The node is fine, and the held call is still in the plugin.
    assert_eq!(l1.call("release", json!({})).unwrap(), json!({"released": 1}));
}
}

/// lightningd's command line, from `/proc` (Linux).
fn cmdline(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn position(args: &[String], prefix: &str) -> usize {
    args.iter()
        .position(|a| a.starts_with(prefix))
        .unwrap_or_else(|| panic!("{prefix} not in {args:?}"))
}

cln_itest::needs_lightningd! {
#[test]
fn options_plugins_and_environment_keep_their_order_and_change_between_starts() {
    let node = NodeConf::default()
        .with_option("--alias=first")
        .with_plugin_conf(
            PluginConf::new(plugin())
                .with_option("lifecycle-opt", "one")
                .with_env("ONLY_THIS_PLUGIN", "yes"),
        )
        .with_option("--fee-base=7")
        .with_env("EVERY_PLUGIN", "node-wide");
    let (_root, net) = network(vec![node]);
    let l1 = net.node(0);
    if cfg!(target_os = "linux") {
        let args = cmdline(l1.pid().unwrap());
        let (alias, plugin, opt, fee) = (
            position(&args, "--alias=first"),
            position(&args, "--plugin="),
            position(&args, "--lifecycle-opt=one"),
            position(&args, "--fee-base=7"),
        );
        assert!(alias < plugin && plugin < opt && opt < fee, "{args:?}");
    }
    let names = json!(["ONLY_THIS_PLUGIN", "EVERY_PLUGIN"]);
    assert_eq!(
        l1.call("env", names.clone()).unwrap(),
        json!({"ONLY_THIS_PLUGIN": "yes", "EVERY_PLUGIN": "node-wide", "lifecycle-opt": "one"})
    );
    // Another plugin gets the node's environment, not the first one's.
    let other = net.dir().join("other").join("other_plugin.py");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(
        &other,
        format!("#!/bin/sh\nexec {} \"$@\"\n", plugin().display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).unwrap();
    l1.plugin_stop("lifecycle_plugin.py").unwrap();
    l1.plugin_start(&other, &[]).unwrap();
    let seen = l1.call("env", names.clone()).unwrap();
    assert_eq!(seen["ONLY_THIS_PLUGIN"], Value::Null, "{seen}");
    assert_eq!(seen["EVERY_PLUGIN"], json!("node-wide"), "{seen}");

    l1.stop().unwrap();
    l1.update_conf(|conf| {
        assert_eq!(conf.remove_option("alias"), 1);
        conf.push_option("--alias=second");
        conf.set_env("EVERY_PLUGIN", "changed");
    })
    .unwrap();
    l1.start().unwrap();
    let info = l1.call("getinfo", json!({})).unwrap();
    assert_eq!(info["alias"], json!("second"));
    assert_eq!(
        l1.call("env", names).unwrap(),
        json!({"ONLY_THIS_PLUGIN": "yes", "EVERY_PLUGIN": "changed", "lifecycle-opt": "one"})
    );
    assert_eq!(l1.conf().options().collect::<Vec<_>>(), ["--fee-base=7", "--alias=second"]);
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_start_in_two_steps_and_an_expected_start_up_failure() {
    let (_root, net) = network(vec![
        NodeConf::default().not_started(),
        NodeConf::default().with_option("--no-such-option-itest").not_started(),
    ]);
    let (l1, l2) = (net.node(0), net.node(1));
    assert_eq!(l1.state(), NodeState::NotStarted);
    l1.launch().expect("launching l1");
    l1.wait_ready().expect("l1 becomes ready");
    assert!(l1.is_running());

    // An expected failure: launch, then wait for the exit.
    l2.launch().expect("lightningd itself starts");
    let status = l2.wait_exit().expect("lightningd refuses the option and exits");
    assert_ne!(status.code(), Some(0), "{status}");
    assert_eq!(status.signal(), None, "{status}");
    assert_eq!(l2.state(), NodeState::Exited(status.clone()));
    assert_eq!(l2.exit_status(), Some(status));
    let lines = l2.stderr_matches("no-such-option-itest").unwrap();
    assert!(!lines.is_empty(), "stderr: {}", l2.stderr().unwrap());
    // Awaited, so not a death.
    net.finish().expect("an awaited exit is not a finding");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_failed_start_carries_the_exit_status_and_stderr() {
    let (_root, net) = network(vec![
        NodeConf::default().with_option("--no-such-option-itest").not_started(),
    ]);
    let l1 = net.node(0);
    let err = l1.start().expect_err("lightningd refuses the option");
    let start = err.start_error().unwrap_or_else(|| panic!("not a start error: {err}"));
    let status = start.status.clone().expect("lightningd ran");
    assert!(status.code().is_some_and(|c| c != 0), "{status}");
    assert!(start.stderr.contains("no-such-option-itest"), "{err}");
    assert!(err.to_string().contains("--- its stderr ---"), "{err}");
    assert_eq!(l1.exit_status(), Some(status));
}
}

cln_itest::needs_lightningd! {
#[test]
fn nodes_added_later_do_not_lock_the_network() {
    let (_root, net) = network(vec![NodeConf::default()]);
    let l1 = net.node(0);
    let l2 = net.add_node(NodeConf::default()).expect("adding l2");
    // l1 is still usable next to l2.
    let connected = net.connect(l2, l1).expect("connecting l2 to l1");
    assert_eq!(connected["id"], json!(l1.id().unwrap()));
    let l2_id = json!(l2.id().unwrap());
    cln_itest::wait_until("l1 to list l2 as its peer", Duration::from_secs(30), |_| {
        let peers: Value = l1.call("listpeers", json!({}))?;
        Ok((peers["peers"][0]["id"] == l2_id).then_some(()))
    })
    .unwrap();
    assert_eq!(net.nodes().len(), 2);
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_slow_but_correct_plugin_shutdown_is_waited_for() {
    // lightningd waits up to 30 s for plugins subscribed to `shutdown`.
    let node = NodeConf::default().with_plugin_conf(
        PluginConf::new(plugin()).with_env("SLOW_SHUTDOWN_SECS", "20"),
    );
    let (_root, net) = network(vec![node]);
    let l1 = net.node(0);
    l1.stop().expect("stopping a node whose plugin takes 20 s to shut down");
    l1.is_in_log("plugin-lifecycle_plugin.py: shutdown: exiting in 20").unwrap()
        .expect("the plugin got the shutdown notification");
    let status = l1.exit_status().expect("it exited");
    assert!(status.success(), "{status}");
    net.finish().expect("a slow shutdown is not a finding");
}
}

cln_itest::needs_lightningd! {
#[test]
fn the_stop_budget_is_configurable_and_a_kill_is_reported() {
    // lightningd waits 30 s for this plugin (1.5 s on old releases, whose
    // clock libfaketime runs 20x fast): more than the 1 s budget.
    let node = NodeConf::default()
        .with_plugin_conf(PluginConf::new(plugin()).with_env("SLOW_SHUTDOWN_SECS", "1000"))
        .with_stop_timeout(Duration::from_secs(1));
    let (_root, net) = network(vec![node]);
    let l1 = net.node(0);
    let err = l1.stop().expect_err("the plugin's shutdown does not fit in 1 s");
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("NodeConf::stop_timeout"), "{err}");
    let text = net.finish().expect_err("a kill after stop fails the teardown").to_string();
    assert!(text.contains("did not exit after the `stop` RPC"), "{text}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_node_stopped_by_a_raw_stop_call_is_stopped_not_dead() {
    let (_root, net) = network(vec![NodeConf::default()]);
    let l1 = net.node(0);
    l1.call("stop", json!({})).expect("the stop RPC");
    cln_itest::wait_until("l1 to exit", Duration::from_secs(30), |_| Ok((!l1.is_running()).then_some(())))
        .unwrap();
    let state = l1.state();
    assert!(matches!(&state, NodeState::Exited(s) if s.success()), "{state:?}");
    assert_eq!(l1.died(), None);
    let dir = net.dir().to_path_buf();
    net.finish().expect("a clean stop is not a finding");
    assert!(!dir.exists(), "a passing network with a stopped node keeps {}", dir.display());
}
}

cln_itest::needs_lightningd! {
#[test]
fn numbers_in_replies_are_exactly_what_lightningd_sent() {
    let (_root, net) = network(vec![with_plugin(NodeConf::default())]);
    let reply = net.node(0).call("exact_numbers", json!({})).unwrap();
    for (key, text) in [
        ("received_time", "1796166653.671404940"),
        ("resolved_time", "1796166653.999999999"),
        ("fraction", "0.1000000000000000055511151231257827"),
    ] {
        let want: f64 = text.parse().unwrap();
        assert_eq!(reply[key].as_f64(), Some(want), "{key}: {text} came back as {}", reply[key]);
    }
    assert_eq!(reply["big"].as_u64(), Some(u64::MAX));
}
}

cln_itest::needs_lightningd! {
#[test]
fn lightningd_can_be_read_without_a_node() {
    let conf = Conf::with_nodes(1);
    let lightningd = cln_itest::Lightningd::of(&conf).expect("finding lightningd");
    // Its option listing, as any release prints it.
    for option in ["log-level", "--network", "plugin", "disable-plugin"] {
        assert!(lightningd.has_option(option), "{option} missing from:\n{}", lightningd.help());
    }
    assert!(!lightningd.has_option("no-such-option-itest"));
    assert!(lightningd.help().contains("--lightning-dir"), "{}", lightningd.help());
    // It is the one a node of the same Conf runs.
    let (_root, net) = network(conf.nodes.clone());
    let l1 = net.node(0);
    assert_eq!(lightningd.version(), l1.version());
    assert_eq!(lightningd.program(), l1.lightningd());
    let reported = l1.call("getinfo", json!({})).unwrap()["version"].clone();
    assert_eq!(cln_itest::Version::parse(reported.as_str().unwrap()).unwrap(), lightningd.version());
}
}
