//! The on-chain helpers on real nodes, with a `permfail` rule: the
//! channel fails for good, goes on chain, and onchaind's transactions are
//! found, waited for and mined, in the log formats of every release.

use cln_itest::{Conf, Feerates, Network, NodeConf};
use serde_json::json;

cln_itest::needs_lightningd! {
/// l2 fails the channel at the reconnection after a `-WIRE_REVOKE_AND_ACK`
/// disconnect (`permfail`) and drops its commitment with l1's HTLC on
/// it; onchaind on l1 times the HTLC out once its CLTV (5 more blocks
/// with pyln's defaults) has passed. Needs developer options (refused
/// otherwise, and skipped here, saying so).
#[test]
fn permfail_sends_the_channel_on_chain_and_onchaind_txs_are_found() {
    let mut conf = Conf::with_nodes(2).with_pyln_defaults();
    // Equal feerates: no fee update commitments in between.
    conf.nodes[0] = conf.nodes[0].clone().with_feerates(Some(Feerates::uniform(7500)));
    conf.nodes[1] = conf.nodes[1]
        .clone()
        .with_dev_disconnect(["-WIRE_REVOKE_AND_ACK", "permfail"]);
    let net = match Network::with_conf(&conf) {
        Ok(net) => net,
        Err(e) if format!("{e:#}").contains("needs a lightningd with developer options") => {
            eprintln!("SKIPPED: {e:#}");
            return;
        }
        Err(e) => panic!("{e:#}"),
    };
    let (l1, l2) = (net.node(0), net.node(1));
    let rules = std::fs::read_to_string(l2.lightning_dir().join("regtest/dev-disconnect")).unwrap();
    assert_eq!(rules, "-WIRE_REVOKE_AND_ACK\npermfail\n");
    net.fund_channel(l1, l2, 1_000_000).unwrap();

    // Never completes: l2 fails the channel first.
    let invoice = l1.sendpay_peer(l2, 200_000_000).unwrap();
    l2.wait_for_log("dev_disconnect permfail").unwrap();
    let commitment = l2.wait_for_channel_onchain(l1).unwrap();
    net.mine_with_mempool(1, commitment.as_str()).unwrap();
    l1.wait_for_log(" to ONCHAIN").unwrap();

    let tx = l1
        .wait_for_onchaind_tx("OUR_HTLC_TIMEOUT_TO_US", "THEIR_UNILATERAL/OUR_HTLC")
        .unwrap();
    assert_eq!(tx.blocks, 5, "{tx:?}");
    assert_ne!(tx.txid, commitment);
    net.mine(tx.blocks as u64).unwrap();
    let mined = net.mine_txid_or_rbf(l1, &tx.txid, 1).unwrap();
    let decoded = net.bitcoind().rpc("getrawtransaction", json!([mined, true])).unwrap();
    assert!(decoded["confirmations"].as_u64().unwrap() >= 1, "{decoded}");
    l1.wait_for_log("Resolved THEIR_UNILATERAL/OUR_HTLC by our proposal OUR_HTLC_TIMEOUT_TO_US")
        .unwrap();
    // The payment never completed.
    let pays = l1
        .call("listsendpays", json!({"payment_hash": invoice.payment_hash}))
        .unwrap();
    let status = &cln_itest::only_one(&pays["payments"]).unwrap()["status"];
    assert_ne!(status, &json!("complete"), "{pays}");
}
}

cln_itest::needs_lightningd! {
/// A rule after `permfail` would never fire: the network refuses it.
#[test]
fn a_rule_after_permfail_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::from_nodes([NodeConf::default().with_dev_disconnect(["permfail", "-WIRE_INIT"])]);
    conf.tmp_root = Some(root.path().to_path_buf());
    let err = Network::with_conf(&conf).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("follows `permfail`") || text.contains("needs a lightningd with developer options"),
        "{text}"
    );
}
}
