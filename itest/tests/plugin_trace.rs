//! Plugin traces on real lightningd: a traced plugin's traffic is read
//! from its trace (hook calls and replies, `getmanifest`, `init`,
//! notifications, calls of its RPC methods) without the plugin logging
//! anything, and a message lightningd rejects becomes a teardown finding
//! that quotes it. The fixture `peer_hook.py` sits on `peer_connected` and
//! writes nothing but its replies.

mod support;

use cln_itest::{Conf, Direction, Network, NodeConf, PluginConf};
use serde_json::json;
use tempfile::TempDir;

use support::fixture;

const PLUGIN: &str = "peer_hook.py";

/// l1 with `plugin`, l2 plain, in a temp root the test owns.
fn two_nodes(l1: NodeConf) -> (TempDir, Network) {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::from_nodes([l1, NodeConf::default()]);
    conf.tmp_root = Some(root.path().to_path_buf());
    let net = Network::with_conf(&conf).expect("starting two nodes");
    (root, net)
}

cln_itest::needs_lightningd! {
#[test]
fn a_hook_call_and_the_plugins_reply_are_read_from_the_trace() {
    let plugin = PluginConf::new(fixture(PLUGIN)).traced();
    let (_root, net) = two_nodes(NodeConf::default().with_plugin_conf(plugin));
    let (l1, l2) = (net.node(0), net.node(1));
    net.connect(l2, l1).unwrap();

    let call = l1.wait_for_hook_call(PLUGIN, "peer_connected").unwrap();
    assert_eq!(call.direction, Direction::ToPlugin);
    assert_eq!(call.params().unwrap()["peer"]["id"], json!(l2.id().unwrap()), "{call}");
    let reply = l1.wait_for_reply(PLUGIN, &call).unwrap();
    assert_eq!(reply.direction, Direction::FromPlugin);
    assert_eq!(reply.result().unwrap(), &json!({"result": "continue"}), "{reply}");
    assert!(reply.index > call.index && reply.time >= call.time);

    // The handshake and the subscribed notification are there too, in
    // order, and the plugin sent nothing but replies.
    let trace = l1.plugin_trace(PLUGIN).unwrap();
    let first = &trace.messages()[0];
    assert_eq!(first.method(), Some("getmanifest"), "{first}");
    assert_eq!(trace.manifest().unwrap()["hooks"][0]["name"], "peer_connected");
    let init = trace.requests("init").next().expect("init in the trace");
    assert!(init.params().unwrap()["configuration"]["lightning-dir"].is_string(), "{init}");
    assert!(trace.reply_to(init).is_some());
    l1.wait_for_plugin_message(PLUGIN, "the connect notification", |m| {
        m.is_notification() && m.method() == Some("connect")
    })
    .unwrap();
    let from_plugin: Vec<_> = l1
        .plugin_trace(PLUGIN)
        .unwrap()
        .messages()
        .iter()
        .filter(|m| m.direction == Direction::FromPlugin)
        .cloned()
        .collect();
    assert!(from_plugin.iter().all(|m| m.is_reply()), "{from_plugin:#?}");
    assert!(trace.notifications("log").next().is_none());
    assert!(trace.messages().windows(2).all(|w| w[0].time <= w[1].time));
    net.finish().unwrap();
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_call_of_the_plugins_method_and_its_result_are_in_the_trace() {
    let plugin = PluginConf::new(fixture(PLUGIN)).traced();
    let (_root, net) = two_nodes(NodeConf::default().with_plugin_conf(plugin));
    let l1 = net.node(0);
    let result = l1.call("echo", json!({"word": "ping"})).unwrap();
    let call = l1.wait_for_plugin_traffic(PLUGIN, r#""method": ?"echo""#).unwrap();
    assert_eq!(call.params().unwrap()["word"], "ping", "{call}");
    let reply = l1.wait_for_reply(PLUGIN, &call).unwrap();
    // lightningd passes the plugin's result on unchanged.
    assert_eq!(reply.result().unwrap(), &result);
    // Not traced: l2 has no trace, and asking says which plugins are.
    let err = net.node(1).plugin_trace(PLUGIN).unwrap_err();
    assert!(err.to_string().contains("is not traced"), "{err}");
    net.finish().unwrap();
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_hook_reply_lightningd_rejects_is_a_finding_that_quotes_it() {
    // lightningd dies on a peer_connected reply it does not know
    // (`fatal`, a **BROKEN** line); the node may fail, the line still
    // fails the teardown, and the finding quotes the plugin's reply.
    let plugin = PluginConf::new(fixture(PLUGIN))
        .with_env("PEER_HOOK_REPLY", r#"{"result": "maybe"}"#)
        .traced();
    let (_root, net) = two_nodes(NodeConf::default().with_plugin_conf(plugin).may_fail());
    let (l1, l2) = (net.node(0), net.node(1));
    // l1 dies while answering: the call may fail or not, depending on when.
    let _ = net.connect(l2, l1);
    let call = l1.wait_for_hook_call(PLUGIN, "peer_connected").unwrap();
    let reply = l1.wait_for_reply(PLUGIN, &call).unwrap();
    assert_eq!(reply.result().unwrap(), &json!({"result": "maybe"}));
    l1.wait_exit().unwrap();
    let err = net.finish().expect_err("a rejected reply fails the teardown");
    let text = format!("{err:#}");
    assert!(text.contains("lightningd rejected what plugin peer_hook.py sent"), "{text}");
    assert!(text.contains("invalid response to the peer_connected hook"), "{text}");
    assert!(text.contains(&reply.raw), "the finding quotes {}:\n{text}", reply.raw);
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_reply_that_gets_the_plugin_killed_is_a_finding_that_quotes_it() {
    let plugin = PluginConf::new(fixture("misbehave_on_call.py")).traced();
    let (_root, net) = two_nodes(NodeConf::default().with_plugin_conf(plugin));
    let l1 = net.node(0);
    assert!(l1.call("reply_garbage", json!({})).is_err());
    let call = l1.wait_for_hook_call("misbehave_on_call.py", "reply_garbage").unwrap();
    let reply = l1.wait_for_reply("misbehave_on_call.py", &call).unwrap();
    assert_eq!(reply.result().unwrap(), "not JSON-RPC");
    l1.wait_for_log("Killing plugin").unwrap();
    let err = net.finish().expect_err("a killed plugin fails the teardown");
    let text = format!("{err:#}");
    assert!(text.contains("lightningd rejected what plugin misbehave_on_call.py sent"), "{text}");
    assert!(text.contains(&reply.raw), "the finding quotes {}:\n{text}", reply.raw);
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_plugin_started_traced_keeps_one_trace_across_its_restarts() {
    let (_root, net) = two_nodes(NodeConf::default());
    let (l1, l2) = (net.node(0), net.node(1));
    l1.plugin_start_traced(fixture(PLUGIN), &[]).unwrap();
    // lightningd names it by its file name, as without the relay.
    l1.plugin_stop(PLUGIN).unwrap();
    l1.plugin_start_traced(fixture(PLUGIN), &[]).unwrap();
    net.connect(l2, l1).unwrap();
    let call = l1.wait_for_hook_call(PLUGIN, "peer_connected").unwrap();
    assert_eq!(call.run, 1, "the second run got the call: {call}");
    let trace = l1.plugin_trace(PLUGIN).unwrap();
    assert_eq!(trace.runs(), 2);
    assert_eq!(trace.requests("getmanifest").count(), 2);
    assert!(trace.requests("getmanifest").any(|m| m.run == 0));
    net.finish().unwrap();
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_kill_after_a_plugin_stop_quotes_the_killed_runs_reply() {
    const MISBEHAVE: &str = "misbehave_on_call.py";
    let (_root, net) = two_nodes(NodeConf::default());
    let l1 = net.node(0);
    l1.plugin_start_traced(fixture(MISBEHAVE), &[]).unwrap();
    l1.call("log_at", json!({"level": "info", "message": "first run"})).unwrap();
    // `plugin stop` kills the relay too: run 0 has no end either.
    l1.plugin_stop(MISBEHAVE).unwrap();
    l1.plugin_start_traced(fixture(MISBEHAVE), &[]).unwrap();
    assert!(l1.call("reply_garbage", json!({})).is_err());
    let call = l1.wait_for_hook_call(MISBEHAVE, "reply_garbage").unwrap();
    assert_eq!(call.run, 1);
    let reply = l1.wait_for_reply(MISBEHAVE, &call).unwrap();
    l1.wait_for_log("UNUSUAL.*Killing plugin").unwrap();
    let err = net.finish().expect_err("a killed plugin fails the teardown");
    let text = format!("{err:#}");
    assert!(text.contains(&reply.raw), "the finding quotes {}:\n{text}", reply.raw);
    assert!(!text.contains("first run"), "{text}");
}
}
