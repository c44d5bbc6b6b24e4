//! Ports of upstream tests about notifications.

use std::path::PathBuf;

use cln_itest::{only_one, Conf, Network, NodeConf, PluginConf};
use serde_json::json;

fn plugin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("plugins")
        .join(name)
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_plugin_connect_notifications`: both sides of a
/// connection get `connect`, then `disconnect`.
#[test]
fn connect_and_disconnect_notifications_reach_both_sides() {
    let node = NodeConf::default().with_plugin_conf(PluginConf::new(plugin("connect_notes.py")));
    // Every node's plugins see this (pyln gives plugins their settings
    // through the environment too): the plugin logs at that level.
    let mut conf = Conf::with_nodes(2);
    conf.nodes = vec![node.clone(), node];
    let conf = conf.with_node_env("CONNECT_NOTES_LEVEL", "unusual");
    let net = Network::with_conf(&conf).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));

    net.connect(l1, l2).unwrap();
    let peers = l1.call("listpeers", json!({})).unwrap();
    assert_eq!(only_one(&peers["peers"]).unwrap()["id"], json!(l2.id().unwrap()));
    l1.wait_for_log("UNUSUAL plugin-connect_notes.py: Received connect event").unwrap();
    l2.wait_for_log("UNUSUAL plugin-connect_notes.py: Received connect event").unwrap();

    l2.call("disconnect", json!({"id": l1.id().unwrap()})).unwrap();
    l1.wait_for_log("Received disconnect event").unwrap();
    l2.wait_for_log("Received disconnect event").unwrap();
}
}
