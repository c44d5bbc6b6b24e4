//! A plain `#[test]`: a network with the plugin loaded at startup.

mod common;

use cln_itest::{Conf, Network, NodeConf};
use serde_json::json;

cln_itest::needs_lightningd! {
#[test]
fn hello_uses_its_option_and_the_node_id() {
    let mut conf = Conf::with_nodes(0);
    conf.nodes = vec![
        NodeConf::default().with_plugin(common::hello_plugin(), [("greeting", "hi")]),
        NodeConf::default(),
    ];
    let net = Network::with_conf(&conf).expect("starting the regtest network");
    let (l1, l2) = (net.node(0), net.node(1));
    let reply = l1.call("hello", json!(["bob"])).expect("calling hello");
    assert_eq!(reply, json!({"greeting": "hi bob", "node_id": l1.id().unwrap()}));

    // Loaded later, on another node, with the default option.
    l2.plugin_start(common::hello_plugin(), &[]).expect("plugin start");
    let reply = l2.call("hello", json!({"name": "alice"})).expect("calling hello");
    assert_eq!(reply["greeting"], json!("hello alice"));
}
}

cln_itest::needs_lightningd! {
/// `?` works in a test returning `Box<dyn Error>` (or `anyhow::Result`),
/// and an error reply keeps lightningd's code and message.
#[test]
fn errors_work_with_question_mark_and_keep_lightningds_reply() -> Result<(), Box<dyn std::error::Error>> {
    let net = Network::with_conf(&Conf::with_nodes(1))?;
    let l1 = net.node(0);
    l1.plugin_start(common::hello_plugin(), &[])?;
    let reply = l1.call("hello", json!(["carol"]))?;
    assert_eq!(reply["greeting"], json!("hello carol"));
    let err = l1.call("no-such-method", json!([])).expect_err("lightningd has no such method");
    assert_eq!(err.rpc_code_message(), Some((-32601, "Unknown command 'no-such-method'")));
    assert_eq!(err.node(), Some("l1"));
    Ok(())
}
}
