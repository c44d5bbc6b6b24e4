//! fee-gate on real nodes: `l3` runs the plugin, `l1` and `l2` open
//! channels to it. Fee-dependent behaviour is deterministic because every
//! node's bitcoind proxy answers fee estimates with fixed feerates; a node
//! started with other feerates proposes another commitment feerate.
//! Only cln-itest's public API is used, as in any plugin author's crate.

use cln_itest::{Conf, Feerates, Network, Node, NodeConf, Version};
use serde_json::{json, Value};

const PLUGIN: &str = env!("CARGO_BIN_EXE_fee-gate");
const LIMIT: &str = "fee-gate-max-perkw";
const CHANNEL_SAT: u64 = 500_000;

/// l1 and l2 (l2 with `l2_feerates`), and l3 running fee-gate with
/// `options`; every opener's wallet holds two confirmed outputs, one per
/// channel it may open.
fn network(l2_feerates: Feerates, options: &[(&str, &str)]) -> Network {
    let mut conf = Conf::with_nodes(3);
    conf.nodes[1] = NodeConf::default().with_feerates(Some(l2_feerates));
    conf.nodes[2] = NodeConf::default().with_plugin(PLUGIN, options.iter().copied());
    let net = Network::with_conf(&conf).expect("starting l1, l2 and l3");
    for _ in 0..2 {
        for opener in [net.node(0), net.node(1)] {
            net.fund_wallet(opener, 2 * CHANNEL_SAT)
                .expect("funding an opener");
        }
    }
    net
}

fn status(gate: &Node) -> Value {
    gate.call("feegate-status", json!({}))
        .expect("feegate-status")
}

/// `opener` connects to the gate and asks for a channel; lightningd's
/// reply or error.
fn open(net: &Network, opener: &Node) -> cln_itest::Result<Value> {
    let gate = net.node(2);
    net.connect(opener, gate).expect("connecting to the gate");
    opener.call(
        "fundchannel",
        json!({"id": gate.id().unwrap(), "amount": CHANNEL_SAT}),
    )
}

/// Changes the gate's limit the way its lightningd allows: `setconfig`
/// from v23.08, a plugin restart with the option before.
fn set_limit(gate: &Node, perkw: u64) {
    if gate.version() >= Version::new(23, 8, 0) {
        gate.call("setconfig", json!({"config": LIMIT, "val": perkw}))
            .expect("setconfig");
    } else {
        gate.plugin_stop("fee-gate").expect("plugin stop");
        let value = perkw.to_string();
        gate.plugin_start(PLUGIN, &[(LIMIT, value.as_str())])
            .expect("plugin start");
    }
}

cln_itest::needs_lightningd! {
#[test]
fn the_gate_sees_the_openers_feerate_and_counts_the_channel() {
    let net = network(Feerates::default(), &[]);
    let (l1, gate) = (net.node(0), net.node(2));
    let opened = open(&net, l1).expect("no limit: the channel opens");
    let txid = opened["txid"].as_str().expect("fundchannel's txid");
    // The notification comes after the hook; the plugin logs it.
    gate.wait_for_log(format!("plugin-fee-gate: channel opened, funding txid {txid}"))
        .unwrap();
    let seen = status(gate);
    assert_eq!(seen["accepted"], json!(1), "{seen:#}");
    assert_eq!(seen["rejected"], json!(0), "{seen:#}");
    assert_eq!(seen["opened"], json!(1), "{seen:#}");
    assert_eq!(seen["connects"], json!(1), "{seen:#}");
    // What l1 proposed is one of its own (fixed) estimates, the same in
    // every run of this release.
    let proposed = seen["last_feerate_perkw"].as_u64().expect("a feerate");
    let estimates = l1.call("feerates", json!({"style": "perkw"})).unwrap()["perkw"].clone();
    let levels: Vec<u64> = estimates
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .collect();
    assert!(levels.contains(&proposed), "{proposed} not in l1's {estimates:#}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_limit_below_the_openers_feerate_refuses_the_channel() {
    // l2 estimates fees low from the start, so it proposes less than l1.
    let net = network(Feerates::uniform(2000), &[]);
    let (l1, l2, gate) = (net.node(0), net.node(1), net.node(2));

    // Learn what l1 proposes, then set the limit just below it.
    open(&net, l1).expect("no limit yet");
    let l1_rate = status(gate)["last_feerate_perkw"].as_u64().unwrap();
    set_limit(gate, l1_rate - 1);
    assert_eq!(status(gate)["max_perkw"], json!(l1_rate - 1));

    // A second channel from l1 proposes the same feerate: refused, with the
    // plugin's reason passed on to the opener.
    let refused = open(&net, l1).expect_err("l1's feerate is above the limit");
    let why = refused.rpc_message().expect("lightningd's error");
    assert!(why.contains("fee-gate: feerate") && why.contains("above"), "{refused:?}");
    gate.wait_for_log("plugin-fee-gate: refused a channel at").unwrap();

    // l2's lower estimates get through the same gate.
    let opened = open(&net, l2).expect("l2's feerate is below the limit");
    assert!(opened["txid"].is_string(), "{opened:#}");
    let seen = status(gate);
    let l2_rate = seen["last_feerate_perkw"].as_u64().unwrap();
    assert!(l2_rate < l1_rate, "l2 proposed {l2_rate}, l1 {l1_rate}");
    assert_eq!(seen["rejected"], json!(1), "{seen:#}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_limit_given_at_startup_applies_to_the_first_channel() {
    let net = network(Feerates::default(), &[(LIMIT, "300")]);
    let gate = net.node(2);
    assert_eq!(status(gate)["max_perkw"], json!(300));
    let refused = open(&net, net.node(0)).expect_err("every default feerate is above 300");
    let why = refused.rpc_message().expect("lightningd's error");
    assert!(why.contains("above this node's limit of 300 perkw"), "{refused:?}");
    let seen = status(gate);
    assert_eq!((seen["accepted"].clone(), seen["rejected"].clone()), (json!(0), json!(1)));
}
}
