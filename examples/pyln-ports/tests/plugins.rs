//! Ports of upstream tests (tests/test_plugin.py) about plugins: calls held
//! open, important plugins, slow shutdowns. The plugins are this crate's
//! own (`plugins/`), written for these tests.

use cln_itest::{only_one, Conf, Network, NodeConf, PluginConf};
use pyln_ports::plugin;
use serde_json::json;

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_async_rpcmethod`: a plugin may hold calls open and answer them
/// later; the calls run side by side on one node, in the background
/// (pyln's `executor.submit`).
#[test]
fn calls_held_by_a_plugin_are_answered_when_it_lets_them_go() {
    let queue = PluginConf::new(plugin("async_queue.py"));
    let net = Network::with_conf(&Conf::from_nodes([NodeConf::default().with_plugin_conf(queue)]))
        .expect("starting the network");
    let l1 = net.node(0);
    let waiting: Vec<_> = (0..10).map(|_| l1.spawn_call("asyncqueue", json!([]))).collect();
    let queued: Vec<&str> = vec!["plugin-async_queue.py: queued"; 10];
    l1.wait_for_logs(queued).unwrap();
    // None has an answer yet.
    assert!(waiting.iter().all(|call| !call.is_finished()));
    assert_eq!(l1.call("asyncflush", json!([42])).unwrap(), json!(42));
    let answers: Vec<_> = waiting.into_iter().map(|call| call.wait().unwrap()).collect();
    assert_eq!(answers, vec![json!(42); 10]);
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_important_plugin`: lightningd refuses to start without an
/// important plugin, and shuts down when one dies, whenever it dies.
#[test]
fn lightningd_stops_without_its_important_plugin() {
    let node = NodeConf::default()
        .not_started()
        .may_fail()
        // What lightningd and its other plugins log as it stops suddenly.
        .allow_log("Plugin marked as important, shutting down lightningd|Lost connection to the RPC socket|Connection reset by peer|Plugin terminated before replying to RPC call|askrene-create-layer failed");
    let net = Network::with_conf(&Conf::from_nodes([node]))
        .expect("starting the network");
    let l1 = net.node(0);

    // A missing one: lightningd does not start.
    let missing = plugin("nonexistent");
    l1.update_conf(|c| c.push_option(format!("--important-plugin={}", missing.display())))
        .unwrap();
    l1.launch().unwrap();
    assert_eq!(l1.wait_exit().unwrap().code(), Some(1));
    let said = l1.stderr_matches("Failed to register .*nonexistent: No such file or directory").unwrap();
    assert!(!said.is_empty(), "stderr: {}", l1.stderr().unwrap());

    // One that exits by itself soon after init: lightningd follows it.
    let exits = plugin("exits_later.py");
    l1.update_conf(|c| {
        c.remove_option("important-plugin");
        c.push_option(format!("--important-plugin={}", exits.display()));
        c.set_env("EXITS_LATER_SECS", "1");
    })
    .unwrap();
    l1.launch().unwrap();
    assert_eq!(l1.wait_exit().unwrap().code(), Some(1));
    // The node has exited; the line is in its log all the same.
    l1.wait_for_log("exits_later.py: Plugin marked as important, shutting down lightningd")
        .unwrap();

    // Disabled, it does not matter.
    l1.update_conf(|c| c.push_option("--disable-plugin=exits_later.py")).unwrap();
    l1.start().unwrap();
    l1.call("estimatefees", json!({})).unwrap();
    l1.stop().unwrap();

    // One that dies when asked to, later.
    l1.update_conf(|c| {
        c.remove_option("disable-plugin");
        c.remove_env("EXITS_LATER_SECS");
    })
    .unwrap();
    l1.start().unwrap();
    let err = l1.call("die", json!({})).expect_err("the plugin dies instead of answering");
    assert!(err.rpc().is_some() || err.is_no_reply(), "{err}");
    l1.wait_for_log("exits_later.py: Plugin marked as important, shutting down lightningd")
        .unwrap();
    assert_eq!(l1.wait_exit().unwrap().code(), Some(1));
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_plugin_shutdown` (partial: its `stop` part):
/// lightningd gives a plugin that subscribed to `shutdown` time to finish,
/// and the harness waits for it.
#[test]
fn a_plugin_that_takes_its_time_to_shut_down_is_waited_for() {
    let slow = PluginConf::new(plugin("slow_shutdown.py")).with_env("SLOW_SHUTDOWN_SECS", "5");
    let net = Network::with_conf(&Conf::from_nodes([NodeConf::default().with_plugin_conf(slow)]))
        .expect("starting the network");
    let l1 = net.node(0);
    l1.stop().unwrap();
    assert!(l1.exit_status().is_some_and(|s| s.success()), "{:?}", l1.state());
    l1.wait_for_logs([
        "slow_shutdown.py: shutdown called, exiting in 5s",
        "slow_shutdown.py: shutdown done",
    ])
    .unwrap();
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_rpc_passthrough`: a plugin's methods are
/// listed by `help` with their usage, answer through lightningd with the
/// plugin's option applied, and a call it refuses comes back as an error.
#[test]
fn rpc_passthrough() {
    let node = NodeConf::default().with_plugin(plugin("hello.py"), [("greeting", "Ciao")]);
    let net = Network::with_conf(&Conf::from_nodes([node])).unwrap();
    let l1 = net.node(0);

    let help = l1.call("help", json!({})).unwrap();
    let hellos: Vec<_> = help["help"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["command"].as_str().unwrap_or("").contains("hello"))
        .collect();
    assert_eq!(hellos.len(), 1, "{hellos:?}");
    let usage = l1.call("help", json!(["hello"])).unwrap();
    let command = only_one(&usage["help"]).unwrap()["command"].clone();
    assert!(command.as_str().unwrap().starts_with("hello [name]"), "{command}");
    assert!(l1.is_in_log("Plugin hello.py initialized").unwrap().is_some());

    assert_eq!(l1.call("hello", json!({"name": "World"})).unwrap(), json!("Ciao World"));
    assert!(l1.call("fail", json!({})).unwrap_err().rpc().is_some());
    let err = l1.call("bye", json!({})).unwrap_err();
    assert!(
        err.rpc_message().is_some_and(|m| m.contains("missing required parameter")),
        "{err}"
    );
}
}
