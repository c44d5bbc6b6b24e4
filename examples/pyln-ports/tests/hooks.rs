//! Ports of upstream tests of hooks (tests/test_plugin.py): `htlc_accepted`
//! on a route, `invoice_payment` on the payee, `rpc_command` chained, with
//! fixture plugins ported to `mini.py`. Payments use `pay`, which every
//! release has (upstream has moved to `xpay`, which v23.02 lacks).

use std::hash::{BuildHasher, RandomState};

use cln_itest::{only_one, Conf, Links, Network, NodeConf};
use pyln_ports::plugin;
use serde_json::json;

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

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_htlc_accepted_hook_failonion`: l2's hook
/// fails the HTLC with a meaningless onion; the payment fails.
#[test]
fn htlc_accepted_hook_failonion() {
    let mut conf = Conf::with_nodes(2);
    conf.nodes[1] = NodeConf::default().with_plugin(plugin("fail_onion.py"), []);
    let net = Network::line_graph_with(&conf, Links::Funded).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));

    l2.call("setfailonion", json!(["00".repeat(292)])).unwrap();
    let inv = l2.invoice(42, "failonion000").unwrap();
    let err = l1.pay(&inv.bolt11).unwrap_err();
    assert!(err.rpc_code().is_some(), "{err}");
    l2.wait_for_log("failing with onion 0000").unwrap();
    let invoices = l2.call("listinvoices", json!({"label": "failonion000"})).unwrap();
    assert_eq!(only_one(&invoices["invoices"]).unwrap()["status"], json!("unpaid"));
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_htlc_accepted_hook_fwdto`: l2's hook sends
/// an HTLC meant for l3 back down the channel it came from; l1 cannot
/// read the onion made for l3, and l2's forward names that channel.
#[test]
fn htlc_accepted_hook_fwdto() {
    let mut conf = Conf::with_nodes(3);
    conf.nodes[1] = NodeConf::default().with_plugin(plugin("forward_to.py"), []);
    let net = Network::line_graph_with(&conf, Links::Announced).unwrap();
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));

    // Some balance on l2's side, to forward back.
    let balance = l2.invoice(1_000_000_000 / 2, "balance").unwrap();
    l1.pay(&balance.bolt11).unwrap();
    l1.wait_for_htlcs().unwrap();

    let back = l1.channel_id(l2).unwrap().expect("l1's channel with l2");
    l2.call("setfwdto", json!([back])).unwrap();
    let inv = l3.invoice(42, "fwdto").unwrap();
    let err = l1.pay(&inv.bolt11).unwrap_err();
    assert!(
        format!("{err}").to_lowercase().contains("invalid_onion_hmac"),
        "l1 should fail to read l3's onion: {err}"
    );
    let forwards = l2.call("listforwards", json!({})).unwrap();
    let scid = l1.short_channel_id(l2).unwrap().expect("a confirmed channel");
    assert_eq!(forwards["forwards"][0]["out_channel"], json!(scid));
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_invoice_payment_hook`: l2's
/// `invoice_payment` hook sees each payment's label, amount and preimage,
/// lets one through and refuses the other (preimage ending in 0).
#[test]
fn invoice_payment_hook() {
    let mut conf = Conf::with_nodes(2);
    conf.nodes[1] = NodeConf::default().with_plugin(plugin("reject_zero_preimages.py"), []);
    let net = Network::line_graph_with(&conf, Links::Funded).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));

    let ones = "11".repeat(32);
    let inv = l2
        .invoice_with(1230, "label", json!({"description": "description", "preimage": ones}))
        .unwrap();
    assert_eq!(l1.pay(&inv.bolt11).unwrap()["status"], json!("complete"));
    l2.wait_for_logs(["label=label", "msat=", &format!("preimage={ones}")]).unwrap();

    let zeros = "00".repeat(32);
    let inv = l2
        .invoice_with(1230, "label2", json!({"description": "description", "preimage": zeros}))
        .unwrap();
    let err = l1.pay(&inv.bolt11).unwrap_err();
    assert!(
        format!("{err}").to_lowercase().contains("temporary_node_failure"),
        "the payee's refusal should reach l1: {err}"
    );
    l2.wait_for_logs(["label=label2", "msat=", &format!("preimage={zeros}")]).unwrap();
    let invoices = l2.call("listinvoices", json!({"label": "label2"})).unwrap();
    assert_eq!(only_one(&invoices["invoices"]).unwrap()["status"], json!("unpaid"));
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_invoice_payment_hook_hold`: while l2's
/// `invoice_payment` hook has not answered, l1's payment waits; once it
/// answers, the payment completes. (Upstream sleeps 5 s and checks the
/// payment is still pending; here the plugin logs when it holds one.)
#[test]
fn invoice_payment_hook_hold() {
    let mut conf = Conf::with_nodes(2);
    conf.nodes[1] = NodeConf::default().with_plugin(plugin("hold_payments.py"), []);
    let net = Network::line_graph_with(&conf, Links::Funded).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));

    let inv = l2
        .invoice_with(1230, "label", json!({"description": "description", "preimage": "11".repeat(32)}))
        .unwrap();
    let paying = l1.spawn_call("pay", json!({"bolt11": inv.bolt11}));
    l2.wait_for_log("holding payment for label").unwrap();
    assert!(!paying.is_finished(), "the payment cannot end while the hook holds it");
    assert_eq!(l2.call("unhold", json!({})).unwrap()["released"], json!(1));
    assert_eq!(paying.wait().unwrap()["status"], json!("complete"));
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_rpc_command_hook`: two chained `rpc_command`
/// hooks refuse a command, rewrite one (the first rewrite wins, the second
/// is logged and ignored), answer one themselves and send one to another
/// command; both can then be stopped, in either order.
#[test]
fn rpc_command_hook() {
    let node = NodeConf::default()
        .with_plugin(plugin("rpc_rewrite_first.py"), [])
        .with_plugin(plugin("rpc_rewrite_second.py"), []);
    let net = Network::with_conf(&Conf::from_nodes([node])).unwrap();
    let l1 = net.node(0);

    let err = l1.call("sendpay", json!({})).unwrap_err();
    assert_eq!(err.rpc_message(), Some("the second hook refuses sendpay"), "{err}");

    let inv = l1.invoice(1_000_000, "test_side").unwrap();
    // `decodepay` before `decode` decoded bolt11 (v23.05); gone in v26.
    let decoded = l1
        .call("decode", json!([inv.bolt11]))
        .or_else(|_| l1.call("decodepay", json!([inv.bolt11])))
        .unwrap();
    assert_eq!(decoded["description"], json!("rewritten by the first hook"));
    l1.wait_for_log("rpc_command hook 'invoice' already modified, ignoring.").unwrap();

    assert_eq!(l1.call("listfunds", json!({})).unwrap(), json!(["answered by the first hook"]));

    // `help` goes to `listconfigs` (upstream passes a parameter that only
    // one of them understands on each release; `network` is a config both
    // know and not a command).
    let configs = l1.call("help", json!(["network"])).unwrap();
    assert!(configs.get("help").is_none(), "help answered itself: {configs}");
    assert!(configs.to_string().contains("regtest"), "not listconfigs' answer: {configs}");

    assert!(l1
        .is_in_log("rpc_command hook 'listfunds' already modified, ignoring.")
        .unwrap()
        .is_none());

    // Removing chained hooks in either order (random, as upstream).
    let mut order = ["rpc_rewrite_first.py", "rpc_rewrite_second.py"];
    if RandomState::new().hash_one(0u8) % 2 == 1 {
        order.reverse();
    }
    for name in order {
        l1.plugin_stop(name).unwrap();
    }
}
}

cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_openchannel_hook`: l2's `openchannel` hook
/// sees every field of l1's request, with the values l1 asked for, lets
/// an even amount through and refuses an odd one with its own message.
#[test]
fn openchannel_hook() {
    let mut conf = Conf::with_nodes(2).with_pyln_defaults();
    conf.nodes[1] = NodeConf::default()
        .with_pyln_defaults()
        .with_plugin(plugin("reject_odd_funding.py"), []);
    let net = Network::line_graph_with(&conf, Links::Connected).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_wallet(l1, 1_000_000).unwrap();

    // Even amount: accepted.
    l1.call("fundchannel", json!({"id": l2.id().unwrap(), "amount": 100_000})).unwrap();
    let l1_id = l1.id().unwrap();
    let mut expected = vec![
        ("channel_flags", "1".to_string()),
        ("dust_limit_msat", "546000".into()),
        ("htlc_minimum_msat", "0".into()),
        ("id", l1_id),
        ("max_accepted_htlcs", "483".into()),
        ("max_htlc_value_in_flight_msat", "18446744073709551615".into()),
        ("to_self_delay", "5".into()),
        ("channel_reserve_msat", "1000000".into()),
        ("funding_msat", "100000000".into()),
        ("push_msat", "0".into()),
    ];
    // Anchor channels pay half the commitment feerate; the hook shows the
    // channel type from v25.09 on (CLN's changelog).
    let channel = l1.channel_with(l2).unwrap().expect("l1's new channel");
    let anchors = channel["channel_type"]["names"]
        .as_array()
        .is_some_and(|n| n.contains(&json!("anchors/even")));
    expected.push(("feerate_per_kw", if anchors { "3750" } else { "7500" }.into()));
    if let Some(channel_type) = channel.get("channel_type") {
        if l2.version() >= cln_itest::Version::parse("v25.09").unwrap() {
            expected.push(("channel_type", channel_type.to_string()));
        }
    }
    l2.wait_for_log(format!("reject_odd_funding.py: {} VARS", expected.len())).unwrap();
    for (key, value) in &expected {
        let line = format!("reject_odd_funding.py: {key}={value}");
        assert!(
            l2.is_in_log(cln_itest::Pattern::literal(&line)).unwrap().is_some(),
            "l2's log has no `{line}`"
        );
    }

    // Close it (the funding transaction is not even mined).
    let closed = l1.call("close", json!({"id": l2.id().unwrap()})).unwrap();
    let txid = closed["txids"]
        .as_array()
        .map(|t| only_one(&json!(t)).unwrap().clone())
        .unwrap_or_else(|| closed["txid"].clone());
    net.mine_with_mempool(1, txid.as_str().expect("the closing txid"))
        .unwrap();
    net.wait_channel_state(l1, &l2.id().unwrap(), "ONCHAIN").unwrap();

    // Odd amount: refused, with the plugin's words.
    net.connect(l1, l2).unwrap();
    let err = l1
        .call("fundchannel", json!({"id": l2.id().unwrap(), "amount": 100_001}))
        .unwrap_err();
    assert!(
        err.rpc_message().is_some_and(|m| m.contains("odd amounts are refused here")),
        "{err}"
    );
}
}
