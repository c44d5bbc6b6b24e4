//! Ports of upstream tests (tests/test_plugin.py) of the notifications
//! lightningd sends plugins about channels, invoices, payments and blocks,
//! with fixture plugins ported to `mini.py`.

use cln_itest::{Conf, Links, LogMark, Network, NodeConf};
use pyln_ports::plugin;
use serde_json::json;

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_channel_opened_notification`: the fundee's
/// plugin hears of the channel, who opened it and for how much.
#[test]
fn channel_opened_notification() {
    let mut conf = Conf::with_nodes(2);
    conf.nodes[1] = NodeConf::default().with_plugin(plugin("channel_notes.py"), []);
    let net = Network::line_graph_with(&conf, Links::Funded).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));

    // Sent while the line was built: search from the start of the log.
    let sats = net.conf().channel_sat;
    l2.wait_for_log_since(
        &LogMark::start(),
        format!("channel opened to us by {}, funding_msat {}", l1.id().unwrap(), sats * 1000),
    )
    .unwrap();
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_invoice_creation_notification`: a new
/// invoice's label, preimage and amount reach the payee's plugin.
#[test]
fn invoice_creation_notification() {
    let mut conf = Conf::with_nodes(2);
    conf.nodes[1] = NodeConf::default().with_plugin(plugin("hello.py"), []);
    let net = Network::line_graph_with(&conf, Links::Funded).unwrap();
    let l2 = net.node(1);

    let preimage = "11".repeat(32);
    let label = "a_descriptive_label";
    l2.invoice_with(12345, label, json!({"description": "description", "preimage": preimage}))
        .unwrap();
    l2.wait_for_log(format!(
        "invoice_creation: label {label}, preimage {preimage}, amount 12345"
    ))
    .unwrap();
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_sendpay_notifications`: the payer's plugin
/// gets `sendpay_success` with exactly what `waitsendpay` returned, then,
/// once l2 closed its channel to l3, `sendpay_failure` with exactly the
/// error `waitsendpay` returned.
#[test]
fn sendpay_notifications() {
    let mut conf = Conf::with_nodes(3);
    conf.nodes[0] = NodeConf::default().with_plugin(plugin("sendpay_notes.py"), []);
    let net = Network::line_graph_with(&conf, Links::Announced).unwrap();
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));
    let amount = 100_000_000;
    let scid23 = l2.short_channel_id(l3).unwrap().expect("a confirmed channel");

    let first = l3.invoice(amount, "first").unwrap();
    let second = l3.invoice(amount, "second").unwrap();
    let route = l1.single_route(l3, amount).unwrap();
    let success = l1.sendpay_and_wait(&route, &first).unwrap();

    l2.call("close", json!([scid23, 1])).unwrap();
    let err = l1.sendpay_and_wait(&route, &second).unwrap_err();
    let failure = err.rpc().expect("lightningd's error");

    let seen = l1.call("listsendpays_plugin", json!({})).unwrap();
    assert_eq!(seen["sendpay_success"], json!([success]));
    let mut sent = json!({"code": failure.code, "message": failure.message});
    if let Some(data) = &failure.data {
        sent["data"] = data.clone();
    }
    assert_eq!(seen["sendpay_failure"], json!([sent]));
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_block_added_notifications`: a plugin hears
/// of the tip when its node starts and of every block after, and a node
/// restarted after missing blocks hears of those too.
#[test]
fn block_added_notifications() {
    let node = NodeConf::default().with_plugin(plugin("block_heights.py"), []);
    let net = Network::with_conf(&Conf::from_nodes([node.clone()])).unwrap();
    let height = || {
        let info = net.bitcoind().rpc("getblockchaininfo", json!([])).unwrap();
        info["blocks"].as_u64().expect("a height")
    };
    let caught = |n: &cln_itest::Node| -> Vec<u64> {
        serde_json::from_value(n.call("blockscatched", json!({})).unwrap()).unwrap()
    };
    let base = height();
    let l1 = net.node(0);
    assert_eq!(caught(l1), vec![base]);

    net.mine(2).unwrap();
    assert_eq!(caught(l1), vec![base, base + 1, base + 2]);

    let l2 = net.add_node(node).unwrap();
    assert_eq!(caught(l2), vec![base + 2]);

    l2.stop().unwrap();
    let l2_base = height();
    net.mine(2).unwrap();
    let l1_caught = caught(l1);
    assert_eq!(l1_caught.len(), 5, "{l1_caught:?}");
    assert_eq!(l1_caught[4], base + 4);

    l2.start().unwrap();
    net.sync_blockheight().unwrap();
    let l2_caught = caught(l2);
    assert_eq!(l2_caught.len(), 3, "{l2_caught:?}");
    assert_eq!(l2_caught[1..], [l2_base + 1, l2_base + 2]);
}
}
