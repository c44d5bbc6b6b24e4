//! Ports of upstream tests (tests/test_plugin.py) about notifications:
//! `connect`/`disconnect`, and `forward_event` for settled, failed and
//! on-chain timed-out forwards.

use cln_itest::{only_one, Conf, Lightningd, Network, NodeConf, OpenChannel, PluginConf};
use pyln_ports::plugin;
use serde_json::{json, Value};

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

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_forward_event_notification`: l2 forwards
/// one payment that settles, one that l4 fails and one that l5's
/// `permfail` makes l2 time out on chain; its plugin hears an `offered`
/// event, then the outcome, for each, matching `listforwards`.
#[test]
fn forward_event_notification() {
    let amount: u64 = 100_000_000;
    let conf = Conf::from_nodes([
        NodeConf::default().with_pyln_defaults(),
        NodeConf::default().with_pyln_defaults().with_plugin(plugin("forward_log.py"), []),
        NodeConf::default().with_pyln_defaults(),
        NodeConf::default().with_pyln_defaults(),
        NodeConf::default()
            .with_pyln_defaults()
            .with_dev_disconnect(["-WIRE_UPDATE_FAIL_HTLC", "permfail"]),
    ]);
    if !Lightningd::of(&conf).unwrap().has_option("dev-disconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (--dev-disconnect)");
        return;
    }
    let net = Network::with_conf(&conf).unwrap();
    let (l1, l2, l3, l4, l5) = (net.node(0), net.node(1), net.node(2), net.node(3), net.node(4));

    let unconfirmed = OpenChannel::new(1_000_000).unconfirmed();
    for (a, b) in [(l1, l2), (l2, l3), (l2, l4), (l2, l5)] {
        net.open_channel(a, b, &unconfirmed).unwrap();
    }
    // Generate 5, then make sure everyone is up to date before
    // last one, otherwise they might think it's in the future!
    net.mine(5).unwrap();
    net.bitcoind().mine(1).unwrap();
    cln_itest::wait_until("l1 to know 8 channel directions", net.conf().timeout, |last| {
        let channels = l1.call("listchannels", json!({}))?;
        let n = channels["channels"].as_array().map_or(0, Vec::len);
        *last = format!("{n} directions");
        Ok((n == 8).then_some(()))
    })
    .unwrap();

    // status: offered -> settled
    let inv = l3.invoice(amount, "first").unwrap();
    let route = l1.single_route(l3, amount).unwrap();
    l1.sendpay_and_wait(&route, &inv).unwrap();

    // status: offered -> failed
    let route = l1.single_route(l4, amount).unwrap();
    let unknown = "f".repeat(64);
    let failed = l1
        .call("sendpay", json!({"route": route, "payment_hash": unknown, "payment_secret": unknown}))
        .and_then(|_| l1.call("waitsendpay", json!({"payment_hash": unknown})));
    assert!(failed.unwrap_err().rpc_code().is_some());

    // status: offered -> local_failed
    let inv = l5.invoice(amount, "onchain_timeout").unwrap();
    let fee = amount * 10 / 1_000_000 + 1;
    let route = json!([
        {"amount_msat": amount + fee - 1, "id": l2.id().unwrap(), "delay": 12,
         "channel": l1.short_channel_id(l2).unwrap()},
        {"amount_msat": amount - 1, "id": l5.id().unwrap(), "delay": 5,
         "channel": l2.short_channel_id(l5).unwrap()},
    ]);
    let sendpay = l1.spawn_call(
        "sendpay",
        json!({"route": route, "payment_hash": inv.payment_hash, "payment_secret": inv.payment_secret}),
    );

    l5.wait_for_log("permfail").unwrap();
    l5.wait_for_channel_onchain(l2).unwrap();
    net.mine(1).unwrap();
    l2.wait_for_log(" to ONCHAIN").unwrap();
    l5.wait_for_log(" to ONCHAIN").unwrap();

    let tx = l2
        .wait_for_onchaind_tx("OUR_HTLC_TIMEOUT_TO_US", "THEIR_UNILATERAL/OUR_HTLC")
        .unwrap();
    assert_eq!(tx.blocks, 5);
    net.mine(5).unwrap();
    // Could be RBF!
    net.mine_txid_or_rbf(l2, &tx.txid, 1).unwrap();
    l2.wait_for_log("Resolved THEIR_UNILATERAL/OUR_HTLC by our proposal OUR_HTLC_TIMEOUT_TO_US")
        .unwrap();
    l5.wait_for_log("Ignoring output.*: OUR_UNILATERAL/THEIR_HTLC").unwrap();
    net.mine(100).unwrap();
    sendpay.wait().unwrap();

    let stats = l2.call("listforwards", json!({})).unwrap()["forwards"].clone();
    let stats = stats.as_array().unwrap();
    assert_eq!(stats.len(), 3, "{stats:?}");
    let mut plugin_stats = l2.call("listforwards_plugin", json!({})).unwrap()["forwards"].clone();
    let plugin_stats = plugin_stats.as_array_mut().unwrap();
    assert_eq!(plugin_stats.len(), 6, "{plugin_stats:?}");

    // listforwards has no payment_hash or preimage any more (and no
    // created_index/updated_index before v23.11).
    let without = |v: &Value, keys: &[&str]| {
        let mut v = v.clone();
        for k in keys {
            v.as_object_mut().unwrap().remove(*k);
        }
        v
    };
    for (i, stat) in stats.iter().enumerate() {
        // First event won't have conclusion.
        let mut offered = without(
            stat,
            &["resolved_time", "out_htlc_id", "updated_index", "failcode", "failreason"],
        );
        offered["status"] = json!("offered");
        assert_eq!(without(&plugin_stats[2 * i], &["payment_hash", "preimage"]), offered);
        // Updates carry no created_index.
        let outcome = without(stat, &["out_htlc_id", "created_index"]);
        assert_eq!(without(&plugin_stats[2 * i + 1], &["payment_hash", "preimage"]), outcome);
    }
}
}
