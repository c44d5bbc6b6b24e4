//! Ports of upstream tests of hooks on a multi-hop route
//! (tests/test_plugin.py), with fixture plugins ported to `mini.py`.

use std::path::PathBuf;

use cln_itest::{only_one, Conf, Links, Network, NodeConf};
use serde_json::json;

fn plugin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("plugins")
        .join(name)
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_htlc_accepted_hook_fail`: l2's
/// `htlc_accepted` hook fails every HTLC, paid to l2 or forwarded to l3,
/// with `temporary_node_failure` (0x2002), and the invoices stay unpaid.
#[test]
fn htlc_accepted_hook_fail() {
    let mut conf = Conf::with_nodes(3).with_pyln_defaults();
    conf.nodes[1] = NodeConf::default()
        .with_pyln_defaults()
        .with_plugin(plugin("fail_htlcs.py"), [])
        .with_option("--dev-onion-reply-length=1111");
    let net = Network::line_graph_with(&conf, Links::Announced).unwrap();
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));

    let inv = l2.invoice(1000, "lbl").unwrap();
    let route = l1.single_route(l2, 1000).unwrap();
    let err = l1.sendpay_and_wait(&route, &inv).unwrap_err();
    let data = err.rpc_data().expect("lightningd's error data");
    assert_eq!(data["failcode"], json!(0x2002), "{err}");
    assert_eq!(data["erring_index"], json!(1), "{err}");
    let invoices = l2.call("listinvoices", json!({"label": "lbl"})).unwrap();
    assert_eq!(only_one(&invoices["invoices"]).unwrap()["status"], json!("unpaid"));

    // Forwarded HTLCs fail at l2 too (upstream pays with xpay, which
    // v23.02 lacks; `pay` fails as well).
    let inv = l3.invoice(1000, "lbl").unwrap();
    let err = l1.pay(&inv.bolt11).unwrap_err();
    assert!(err.rpc_code().is_some(), "{err}");
    l2.wait_for_log("Failing htlc on purpose").unwrap();
    let invoices = l3.call("listinvoices", json!({"label": "lbl"})).unwrap();
    assert_eq!(only_one(&invoices["invoices"]).unwrap()["status"], json!("unpaid"));
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_htlc_accepted_hook_resolve`: l2 knows the
/// preimage and resolves the HTLC itself: l1's payment succeeds, l3's
/// invoice stays unpaid.
#[test]
fn htlc_accepted_hook_resolve() {
    let mut conf = Conf::with_nodes(3).with_pyln_defaults();
    conf.nodes[1] = NodeConf::default()
        .with_pyln_defaults()
        .with_plugin(plugin("shortcircuit.py"), []);
    let net = Network::line_graph_with(&conf, Links::Announced).unwrap();
    let (l1, l3) = (net.node(0), net.node(2));

    let inv = l3
        .invoice_with(1000, "lbl", json!({"description": "desc", "preimage": "00".repeat(32)}))
        .unwrap();
    let paid = l1.pay(&inv.bolt11).unwrap();
    assert_eq!(paid["status"], json!("complete"));
    let invoices = l3.call("listinvoices", json!({"label": "lbl"})).unwrap();
    assert_eq!(only_one(&invoices["invoices"]).unwrap()["status"], json!("unpaid"));
}
}
