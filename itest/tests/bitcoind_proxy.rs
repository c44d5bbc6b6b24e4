//! Each node reaches bitcoind through its own proxy (`Node::bitcoind_proxy`):
//! fixed feerates by default, changed during a test, and any bitcoind call
//! lightningd makes answered, failed or counted, on real nodes.

use cln_itest::{Conf, Feerates, MockReply, Network, NodeConf};
use serde_json::{json, Value};

/// lightningd's own view of the feerates, in sat per 1000 weight.
fn perkw(net: &Network, i: usize) -> Value {
    net.node(i)
        .call("feerates", json!({"style": "perkw"}))
        .expect("feerates")["perkw"]
        .clone()
}

cln_itest::needs_lightningd! {
#[test]
fn lightningd_uses_the_fixed_feerates_and_their_changes() {
    let mut conf = Conf::with_nodes(2);
    conf.nodes[1] = NodeConf::default().with_feerates(Some(Feerates::uniform(5000)));
    let net = Network::with_conf(&conf).unwrap();
    // pyln-testing's levels: 2 blocks 15000, 6 blocks 11000, 12 blocks 7500,
    // 100 blocks 3750. Every release from v23.02 on opens at the 12-block
    // level, closes mutually at the 100-block one and unilaterally at the
    // 6-block one.
    let l1 = perkw(&net, 0);
    assert_eq!(l1["opening"], json!(7500), "{l1:#}");
    assert_eq!(l1["mutual_close"], json!(3750), "{l1:#}");
    assert_eq!(l1["unilateral_close"], json!(11000), "{l1:#}");
    // Per node: l2 started with its own.
    assert_eq!(perkw(&net, 1)["opening"], json!(5000));

    // Changed during the test: lightningd has polled the new rates when
    // set_feerates returns. It smooths its estimates over several polls
    // (how much depends on the release), so they move towards the new
    // rate rather than jump to it.
    net.node(0).set_feerates(Some(Feerates::uniform(20_000))).unwrap();
    let changed = perkw(&net, 0);
    for (level, was) in [("opening", 7500), ("mutual_close", 3750), ("unilateral_close", 11000)] {
        let now = changed[level].as_u64().unwrap();
        assert!(now > was && now <= 20_000, "{level}: {changed:#}");
    }
    // The other node is untouched.
    assert_eq!(perkw(&net, 1)["opening"], json!(5000));
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_mocked_bitcoind_call_fails_and_what_lightningd_sent_is_recorded() {
    let net = Network::with_conf(&Conf::with_nodes(1)).unwrap();
    let l1 = net.node(0);
    // Two outputs: some releases keep an output reserved after its
    // transaction failed to broadcast.
    net.fund_wallet(l1, 1_000_000).unwrap();
    net.fund_wallet(l1, 1_000_000).unwrap();
    let proxy = l1.bitcoind_proxy();
    assert!(proxy.count("getblockchaininfo") > 0, "{:?}", proxy.counts());

    proxy.mock("sendrawtransaction", |_| {
        MockReply::error(-26, "itest says no: txn-mempool-conflict")
    });
    let address = net.bitcoind().new_address().unwrap();
    let refused = l1
        .call("withdraw", json!({"destination": address, "satoshi": 100_000}))
        .expect_err("bitcoind (mocked) refused the transaction");
    assert!(
        format!("{refused:?}").contains("itest says no"),
        "lightningd did not pass on bitcoind's error: {refused:?}"
    );
    let sent = proxy.calls_to("sendrawtransaction");
    let tx = sent.last().expect("recorded").params[0].as_str().unwrap().to_string();
    assert!(tx.len() > 100 && tx.chars().all(|c| c.is_ascii_hexdigit()), "{tx}");

    // Without the mock the same withdrawal reaches bitcoind's mempool.
    assert!(proxy.unmock("sendrawtransaction"));
    let done = l1
        .call("withdraw", json!({"destination": address, "satoshi": 100_000}))
        .unwrap();
    let txid = done["txid"].as_str().unwrap();
    let mempool = net.bitcoind().rpc("getrawmempool", json!([])).unwrap();
    assert!(mempool.as_array().unwrap().contains(&json!(txid)), "{mempool}");
    // Forwarded ones stay recorded as bitcoind's answers.
    assert_eq!(proxy.count("sendrawtransaction"), sent.len() as u64 + 1);
}
}
