//! pyln-testing's conveniences, on real nodes: its node defaults as one
//! set, `l1.pay(l2, amt)`, and running `lightningd --plugin=.. --help`.

mod support;

use std::time::Duration;

use cln_itest::{Conf, Lightningd, Network, NodeConf, Version};
use serde_json::{json, Value};

/// One setting from `listconfigs`, in the shape of either release line
/// (`configs.<name>.value_*` from v23.08, `<name>` before).
fn config(node: &cln_itest::Node, name: &str) -> Value {
    let reply = node.call("listconfigs", json!({"config": name})).unwrap();
    let modern = &reply["configs"][name];
    for field in ["value_int", "value_str", "value_bool"] {
        if !modern[field].is_null() {
            return modern[field].clone();
        }
    }
    reply[name].clone()
}

cln_itest::needs_lightningd! {
/// `with_pyln_defaults` gives what upstream's tests assume (cltv 6/5,
/// `to_self_delay` 5, trace logs where the release has them), skipping
/// an option the node sets itself.
#[test]
fn pyln_defaults_set_pyln_options_unless_the_node_sets_them() {
    let mut conf = Conf::with_nodes(2).with_pyln_defaults();
    conf.nodes[1].push_option("--cltv-final=9");
    let net = Network::with_conf(&conf).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    assert_eq!(config(l1, "cltv-delta"), json!(6));
    assert_eq!(config(l1, "cltv-final"), json!(5));
    assert_eq!(config(l1, "watchtime-blocks"), json!(5));
    assert_eq!(config(l2, "cltv-final"), json!(9), "the node's own option wins");
    let level = if l1.version() > Version::new(24, 2, 2) { "trace" } else { "debug" };
    assert_eq!(config(l1, "log-level"), json!(level));
    if net.docker_mode().is_none() {
        let pid = l1.pid().unwrap();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            environ.contains("CLN_PLUGIN_LOG=cln_plugin=trace,cln_rpc=trace,cln_grpc=trace,debug"),
            "{environ}"
        );
    }
    // The peer's watchtime-blocks is this node's to_self_delay.
    net.fund_channel(l1, l2, 200_000).unwrap();
    let channel = l2.channel_with(l1).unwrap().unwrap();
    assert_eq!(channel["their_to_self_delay"], json!(5), "{channel}");
}
}

cln_itest::needs_lightningd! {
/// Nodes without the set keep lightningd's own defaults.
#[test]
fn without_pyln_defaults_lightningd_keeps_its_own() {
    let net = Network::with_conf(&Conf::with_nodes(1)).unwrap();
    assert_ne!(config(net.node(0), "cltv-final"), json!(5));
    assert_eq!(config(net.node(0), "log-level"), json!("debug"));
}
}

cln_itest::needs_lightningd! {
/// `pay_peer` is upstream's `l1.pay(l2, amt)`: one call, the payment
/// complete and every HTLC settled when it returns.
#[test]
fn pay_peer_pays_a_channel_peer_and_settles() {
    let net = Network::line_graph_with_conf(&Conf::with_nodes(2).with_pyln_defaults()).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    let reply = l1.pay_peer(l2, 200_000_000).unwrap();
    assert_eq!(reply["status"], json!("complete"));
    assert_eq!(reply["amount_msat"], json!(200_000_000));
    let invoices = l2.call("listinvoices", json!({})).unwrap();
    let paid = cln_itest::only_one(&invoices["invoices"]).unwrap();
    assert_eq!(paid["status"], json!("paid"));
    let channel = l2.channel_with(l1).unwrap().unwrap();
    assert_eq!(channel["htlcs"], json!([]));
    assert_eq!(channel["to_us_msat"], json!(200_000_000));
    // Without a channel there is nothing to pay over: said by name.
    let l3 = net.add_node(NodeConf::default()).unwrap();
    let err = l1.pay_peer(l3, 1000).unwrap_err();
    assert!(format!("{err:#}").contains("no CHANNELD_NORMAL channel with"), "{err:#}");
}
}

cln_itest::needs_lightningd! {
/// `Lightningd::run_with` is `lightningd --plugin=<p> --help` without
/// `std::process::Command`: the plugin's option is listed; a plugin that
/// cannot start makes the run fail, with lightningd's reason on stderr.
#[test]
fn lightningd_runs_with_a_plugin_and_lists_its_options() {
    let lightningd = Lightningd::of(&Conf::default()).unwrap();
    if lightningd.runs_on() != "this machine" {
        eprintln!("SKIPPED: Lightningd::run needs a native lightningd ({})", lightningd.runs_on());
        return;
    }
    let limit = Duration::from_secs(60);
    let bare = lightningd.run(["--help"], limit).unwrap();
    assert!(bare.success(), "{bare:?}");
    assert!(!bare.stdout.contains("--foo_opt"));
    let node = NodeConf::default().with_plugin(support::fixture("myplugin.py"), []);
    let with = lightningd.run_with(&node, ["--help"], limit).unwrap();
    assert!(with.success(), "{with:?}");
    assert!(with.stdout.contains("--foo_opt"), "{}", with.stdout);
    assert!(with.args.iter().any(|a| a.starts_with("--plugin=") && a.ends_with("myplugin.py")));

    // An important plugin that dies takes lightningd down: a failed run,
    // with lightningd's reason.
    let dies = support::fixture("exits_before_getmanifest.sh");
    let broken = NodeConf::default().with_option(format!("--important-plugin={}", dies.display()));
    let failed = lightningd.run_with(&broken, ["--help"], limit).unwrap();
    assert!(!failed.success(), "{failed:?}");
    let said = format!("{}{}", failed.stdout, failed.stderr);
    assert!(said.contains("plugin-exits_before_getmanifest.sh"), "{said}");
}
}
