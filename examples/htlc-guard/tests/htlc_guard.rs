//! htlc-guard on a line of three real nodes, `l1 -> l2 -> l3`, with the
//! plugin on `l3`, the payee. Only itest's public API is used, as any
//! plugin author's crate would. Without lightningd these tests are listed
//! as ignored with the reason; `ITEST_REQUIRE=1` makes that a failure.

use cln_itest::{Conf, LogMark, Network, NodeConf, Version};
use serde_json::{json, Value};

const PLUGIN: &str = env!("CARGO_BIN_EXE_htlc-guard");
const LIMIT: &str = "htlc-guard-max-msat";

/// A line of three nodes whose payee runs htlc-guard with `options`.
fn guarded_line(options: &[(&str, &str)]) -> Network {
    let mut conf = Conf::with_nodes(3);
    conf.nodes[2] = NodeConf::default().with_plugin(PLUGIN, options.iter().copied());
    Network::line_graph_with_conf(&conf).expect("building l1 -> l2 -> l3")
}

fn status(net: &Network) -> Value {
    net.node(2)
        .call("htlcguard-status", json!({}))
        .expect("htlcguard-status")
}

/// Pays `amount_msat` from l1 to a fresh invoice of l3 labelled `label`.
fn pay(net: &Network, amount_msat: u64, label: &str) -> cln_itest::Result<Value> {
    let invoice = net.node(2).invoice(amount_msat, label).expect("invoice");
    net.node(0).pay(&invoice.bolt11)
}

/// The payer learns that the payee refused the payment: the failure
/// htlc-guard sends, `incorrect_or_unknown_payment_details` (0x400f),
/// is in the error's message or data, by name or by code.
fn assert_refused_by_payee(err: &cln_itest::Error) {
    let rpc = err
        .rpc()
        .unwrap_or_else(|| panic!("pay got no error reply from lightningd: {err}"));
    let shown = format!("{} {}", rpc.message, rpc.data.clone().unwrap_or_default()).to_lowercase();
    assert!(
        shown.contains("incorrect_or_unknown_payment_details") || shown.contains("16399"),
        "pay failed, but not with the hook's failure: {err:?}"
    );
}

cln_itest::needs_lightningd! {
#[test]
fn a_payment_goes_through_and_the_notification_is_counted() {
    let net = guarded_line(&[]);
    let paid = pay(&net, 50_000_000, "first").expect("an unguarded payment completes");
    assert_eq!(paid["status"], json!("complete"), "{paid:#}");
    // The notification reaches the plugin after `pay` returns: wait for
    // the line it logs, then its counter.
    net.node(2)
        .wait_for_log(r"plugin-htlc-guard: invoice first paid")
        .unwrap();
    let s = status(&net);
    assert_eq!(s["payments"], json!(1), "{s:#}");
    assert_eq!(s["labels"], json!(["first"]), "{s:#}");
    assert_eq!(s["max_msat"], Value::Null, "{s:#}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_payment_above_the_startup_limit_is_rejected_by_the_hook() {
    let net = guarded_line(&[(LIMIT, "20000000")]);
    // Logged at start-up, before the node's log cursor (which starts
    // after `Server started`): search from the start of the log.
    net.node(2)
        .wait_for_log_since(
            &LogMark::start(),
            r"plugin-htlc-guard: htlc-guard-max-msat is Some\(20000000\)",
        )
        .expect("the plugin logs the limit it starts with");
    assert_eq!(status(&net)["max_msat"], json!(20_000_000));
    let err = pay(&net, 50_000_000, "too-big").expect_err("50 000 sat is above the limit");
    assert_refused_by_payee(&err);
    net.node(2)
        .wait_for_log(r"plugin-htlc-guard: rejected a payment of 50000000 msat")
        .unwrap();
    // Below the limit still pays, so the limit is what refused it.
    pay(&net, 10_000_000, "small").expect("10 000 sat is within the limit");
    net.node(2)
        .wait_for_log(r"plugin-htlc-guard: invoice small paid")
        .unwrap();
    let s = status(&net);
    assert_eq!(s["payments"], json!(1), "{s:#}");
    // One rejection per HTLC: a payment split into parts may have several.
    assert!(s["rejected"].as_u64().unwrap() >= 1, "{s:#}");
    let invoices = net.node(2).call("listinvoices", json!({"label": "too-big"})).unwrap();
    assert_eq!(invoices["invoices"][0]["status"], json!("unpaid"), "{invoices:#}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn the_limit_can_be_set_while_the_plugin_runs() {
    let net = guarded_line(&[]);
    let l3 = net.node(2);
    pay(&net, 50_000_000, "before").expect("no limit yet");
    if l3.version() >= Version::new(23, 8, 0) {
        // A dynamic option: lightningd passes it to the plugin's setconfig.
        l3.call("setconfig", json!({"config": LIMIT, "val": "20000000"}))
            .expect("setconfig on a dynamic plugin option");
    } else {
        // No setconfig before v23.08: restart the plugin with the option.
        l3.plugin_stop("htlc-guard").expect("plugin stop");
        l3.plugin_start(PLUGIN, &[(LIMIT, "20000000")])
            .expect("plugin start with the limit");
    }
    l3.wait_for_log(r"plugin-htlc-guard: htlc-guard-max-msat is Some\(20000000\)")
        .unwrap();
    assert_eq!(status(&net)["max_msat"], json!(20_000_000));
    let err = pay(&net, 50_000_000, "after").expect_err("now above the limit");
    assert_refused_by_payee(&err);
    pay(&net, 10_000_000, "small").expect("within the new limit");
}
}
