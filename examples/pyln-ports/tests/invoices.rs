//! Ports of upstream invoice tests (tests/test_invoices.py): the route
//! hints an invoice carries and the warnings it gives when there is no
//! good one.

use cln_itest::{only_one, Conf, Links, Network, Node};
use serde_json::{json, Value};

cln_itest::needs_lightningd! {
/// tests/test_invoices.py `test_invoice_routeboost`: l3's invoices hint
/// the route through l2 (l2's fees and delay), and warn once l2 lacks
/// the capacity, once l2 is offline, and once l2 leads nowhere.
#[test]
fn invoice_routeboost() {
    let mut conf = Conf::with_nodes(3).with_pyln_defaults();
    conf.channel_sat = 200_000;
    let net = Network::line_graph_with(&conf, Links::Announced).unwrap();
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));
    let warnings =
        ["warning_private_unused", "warning_capacity", "warning_offline", "warning_deadends", "warning_mpp"];
    let invoice = |label: &str, msat: u64| -> Value {
        l3.call("invoice", json!({"amount_msat": msat, "label": label, "description": "?"}))
            .unwrap()
    };
    let only_warning = |inv: &Value, warning: Option<&str>| {
        for w in warnings {
            assert_eq!(inv.get(w).is_some(), Some(w) == warning, "{w}: {inv}");
        }
    };

    // Check routeboost.
    // Make invoice and pay it
    let inv = invoice("inv1", 123_456);
    only_warning(&inv, None);
    // Route array has single route with single element.
    let decoded = l2.call("decode", json!({"string": inv["bolt11"]})).unwrap();
    let r = only_one(only_one(&decoded["routes"]).unwrap()).unwrap().clone();
    assert_eq!(r["pubkey"], json!(l2.id().unwrap()));
    assert_eq!(r["short_channel_id"], json!(l3.short_channel_id(l2).unwrap()));
    assert_eq!(r["fee_base_msat"], json!(1));
    assert_eq!(r["fee_proportional_millionths"], json!(10));
    assert_eq!(r["cltv_expiry_delta"], json!(6));

    // Pay it (and make sure it's fully resolved before we take l2 offline!)
    // (upstream pays with xpay, which v23.02 lacks)
    l2.pay(inv["bolt11"].as_str().unwrap()).unwrap();
    l2.wait_channel_quiescent(l3).unwrap();

    // Due to reserve & fees, l2 doesn't have capacity to pay this.
    let inv = invoice("inv2", 2 * 100_000_000 - 123_456);
    only_warning(&inv, Some("warning_capacity"));

    l2.call("disconnect", json!({"id": l3.id().unwrap(), "force": true})).unwrap();
    let connected = |node: &Node, peer: &Node| -> cln_itest::Result<Value> {
        let peers = node.call("listpeers", json!({"id": peer.id()?}))?;
        Ok(only_one(&peers["peers"])?["connected"].clone())
    };
    cln_itest::wait_until("l3 to see l2 disconnected", net.conf().timeout, |_| {
        Ok((connected(l3, l2)? == json!(false)).then_some(()))
    })
    .unwrap();
    let inv = invoice("inv3", 123_456);
    only_warning(&inv, Some("warning_offline"));

    // Close l1, l3 will not use l2 at all.
    l1.call("close", json!({"id": l2.id().unwrap()})).unwrap();
    l1.wait_for_channel_onchain(l2).unwrap();
    net.mine(100).unwrap();

    // l3 has to notice channel is gone.
    cln_itest::wait_until("l3 to forget l1's channel", net.conf().timeout, |last| {
        let gossip = l3.call("listchannels", json!({}))?;
        let n = gossip["channels"].as_array().map_or(0, Vec::len);
        *last = format!("{n} directions");
        Ok((n == 2).then_some(()))
    })
    .unwrap();
    let inv = invoice("inv4", 123_456);
    only_warning(&inv, Some("warning_deadends"));
}
}
