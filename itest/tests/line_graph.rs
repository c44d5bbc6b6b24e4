//! `line_graph`, `invoice` and `pay` on real nodes, without any plugin:
//! the topology and money helpers a plugin's tests build on.

use cln_itest::Network;
use serde_json::json;

cln_itest::needs_lightningd! {
#[test]
fn a_line_of_three_pays_end_to_end() {
    let net = Network::line_graph(3).expect("building l1 -> l2 -> l3");
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));
    // Every node already knows both channels in both directions.
    for node in net.nodes() {
        let channels = node.call("listchannels", json!({})).unwrap();
        let active = channels["channels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["active"] == json!(true))
            .count();
        assert_eq!(active, 4, "{}: {channels:#}", node.name());
    }

    let invoice = l3.invoice(100_000_000, "across").unwrap();
    let paid = l1.pay(&invoice.bolt11).expect("paying l3 from l1");
    assert_eq!(paid["status"], json!("complete"), "{paid:#}");
    assert_eq!(paid["payment_hash"], json!(invoice.payment_hash), "{paid:#}");
    let listed = l3.call("listinvoices", json!({"label": "across"})).unwrap();
    assert_eq!(listed["invoices"][0]["status"], json!("paid"), "{listed:#}");
    assert_eq!(listed["invoices"][0]["amount_received_msat"], json!(100_000_000), "{listed:#}");
    // l2 forwarded it (in one part or several: `pay` may split).
    let forwards = l2.call("listforwards", json!({"status": "settled"})).unwrap();
    assert!(!forwards["forwards"].as_array().unwrap().is_empty(), "{forwards:#}");

    // pyln's `single_route` + `sendpay` + `waitsendpay`: one route, one part.
    let invoice = l3.invoice(5_000_000, "by-route").unwrap();
    let route = l1.single_route(l3, 5_000_000).unwrap();
    let hops = route.as_array().unwrap();
    assert_eq!(hops.len(), 2, "{route:#}");
    assert_eq!(hops[0]["id"], json!(l2.id().unwrap()), "{route:#}");
    assert_eq!(hops[0]["channel"], json!(l1.short_channel_id(l2).unwrap().unwrap()));
    assert_eq!(hops[1]["channel"], json!(l2.short_channel_id(l3).unwrap().unwrap()));
    let sent = l1.sendpay_and_wait(&route, &invoice).expect("the route pays");
    assert_eq!(sent["status"], json!("complete"), "{sent:#}");
    let listed = l3.call("listinvoices", json!({"label": "by-route"})).unwrap();
    assert_eq!(listed["invoices"][0]["status"], json!("paid"), "{listed:#}");
    // An invoice l3 has deleted: l3 refuses the payment, and the error is
    // lightningd's, with the failing node's code.
    let invoice = l3.invoice(5_000_000, "deleted").unwrap();
    l3.call("delinvoice", json!({"label": "deleted", "status": "unpaid"})).unwrap();
    let err = l1.sendpay_and_wait(&route, &invoice).expect_err("l3 knows no such payment");
    assert!(err.rpc_code().is_some(), "{err}");
    assert!(err.to_string().contains("WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS"), "{err}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_line_needs_two_nodes() {
    let lone = Network::with_conf(&cln_itest::Conf::with_nodes(1)).unwrap();
    let err = lone.link_line().expect_err("one node is no line");
    assert!(format!("{err:#}").contains("at least 2 nodes, this network has 1"), "{err:#}");
}
}
