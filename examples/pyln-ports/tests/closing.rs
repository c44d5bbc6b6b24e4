//! Ports of upstream closing and on-chain tests (tests/test_closing.py):
//! channels failed for good with `permfail` or `dev-fail`, and onchaind's
//! transactions found, waited for and mined. The `coin_movements.py`
//! accounting checks of the originals are left out (a plugin of their
//! own). Each needs developer options: on a lightningd without them the
//! test says so and returns.

use cln_itest::{Conf, Feerates, Lightningd, Links, Network, NodeConf};
use serde_json::json;

cln_itest::needs_lightningd! {
/// tests/test_closing.py `test_permfail_new_commit`: l2 fails the channel
/// while l1's HTLC is only in l2's new commitment; l1 times it out.
#[test]
fn permfail_new_commit() {
    let conf = Conf::from_nodes([
        NodeConf::default().with_pyln_defaults().with_feerates(Some(Feerates::uniform(7500))),
        NodeConf::default()
            .with_pyln_defaults()
            .with_dev_disconnect(["-WIRE_REVOKE_AND_ACK", "permfail"]),
    ]);
    if !Lightningd::of(&conf).unwrap().has_option("dev-disconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (--dev-disconnect)");
        return;
    }
    let net = Network::with_conf(&conf).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_channel(l1, l2, 1_000_000).unwrap();

    // This will fail at l2's end.
    l1.sendpay_peer(l2, 200_000_000).unwrap();
    l2.wait_for_log("dev_disconnect permfail").unwrap();
    l2.wait_for_channel_onchain(l1).unwrap();
    net.mine(1).unwrap();
    l1.wait_for_log("Their unilateral tx, new commit point").unwrap();
    l1.wait_for_log(" to ONCHAIN").unwrap();
    l2.wait_for_log(" to ONCHAIN").unwrap();

    let tx = l1
        .wait_for_onchaind_tx("OUR_HTLC_TIMEOUT_TO_US", "THEIR_UNILATERAL/OUR_HTLC")
        .unwrap();
    assert_eq!(tx.blocks, 5);
    // OK, time out HTLC.
    net.mine(5).unwrap();
    net.mine_with_mempool(1, tx.txid.as_str()).unwrap();
    l1.wait_for_log("Resolved THEIR_UNILATERAL/OUR_HTLC by our proposal OUR_HTLC_TIMEOUT_TO_US")
        .unwrap();
    l2.wait_for_log("Ignoring output.*: OUR_UNILATERAL/THEIR_HTLC").unwrap();

    // Now, 100 blocks it should be done.
    net.mine(100).unwrap();
    cln_itest::wait_until("both to forget the other", net.conf().timeout, |_| {
        let empty = |n: &cln_itest::Node| -> cln_itest::Result<bool> {
            Ok(n.call("listpeers", json!({}))?["peers"] == json!([]))
        };
        Ok((empty(l1)? && empty(l2)?).then_some(()))
    })
    .unwrap();
}
}

cln_itest::needs_lightningd! {
/// tests/test_closing.py `test_permfail_htlc_in`: l2 fails with an
/// unsettled incoming HTLC whose preimage it has, and claims it on chain.
#[test]
fn permfail_htlc_in() {
    let conf = Conf::from_nodes([
        NodeConf::default().with_pyln_defaults().with_feerates(Some(Feerates::uniform(7500))),
        NodeConf::default()
            .with_pyln_defaults()
            .with_dev_disconnect(["-WIRE_UPDATE_FULFILL_HTLC", "permfail"]),
    ]);
    if !Lightningd::of(&conf).unwrap().has_option("dev-disconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (--dev-disconnect)");
        return;
    }
    let net = Network::with_conf(&conf).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_channel(l1, l2, 1_000_000).unwrap();
    // Give it some sats for anchor spend! (Unconfirmed, as upstream's
    // `fundwallet(30000, mine_block=False)`: the next block confirms it.)
    let addr = l2.call("newaddr", json!({"addresstype": "bech32"})).unwrap()["bech32"].clone();
    net.bitcoind().send_to(addr.as_str().unwrap(), 30_000).unwrap();

    // This will fail at l2's end.
    l1.sendpay_peer(l2, 200_000_000).unwrap();
    l2.wait_for_log("dev_disconnect permfail").unwrap();
    l2.wait_for_channel_onchain(l1).unwrap();
    net.mine(1).unwrap();
    l1.wait_for_log("Their unilateral tx, old commit point").unwrap();
    l1.wait_for_log(" to ONCHAIN").unwrap();
    l2.wait_for_log(" to ONCHAIN").unwrap();
    let timeout = l1
        .wait_for_onchaind_tx("OUR_HTLC_TIMEOUT_TO_US", "THEIR_UNILATERAL/OUR_HTLC")
        .unwrap();
    assert_eq!(timeout.blocks, 5);
    // l2 then gets preimage, uses it instead of ignoring
    let success = l2
        .wait_for_onchaind_tx("OUR_HTLC_SUCCESS_TX", "OUR_UNILATERAL/THEIR_HTLC")
        .unwrap();
    assert_eq!(success.blocks, 0);
    net.mine_with_mempool(1, success.txid.as_str()).unwrap();

    // OK, l1 sees l2 fulfill htlc.
    l1.wait_for_log("THEIR_UNILATERAL/OUR_HTLC gave us preimage").unwrap();
    let delayed = l2
        .wait_for_onchaind_tx(
            "OUR_DELAYED_RETURN_TO_WALLET",
            "OUR_HTLC_SUCCESS_TX/DELAYED_OUTPUT_TO_US",
        )
        .unwrap();
    assert_eq!(delayed.blocks, 4);
    net.mine(4).unwrap();

    // Now, 100 blocks it should be done.
    net.mine_with_mempool(95, delayed.txid.as_str()).unwrap();
    l1.wait_for_log("onchaind complete, forgetting peer").unwrap();
    assert!(l2.is_in_log("onchaind complete, forgetting peer").unwrap().is_none());
    net.mine(5).unwrap();
    l2.wait_for_log("onchaind complete, forgetting peer").unwrap();
}
}

cln_itest::needs_lightningd! {
/// tests/test_closing.py `test_permfail_htlc_out`: l2 fails with an
/// unsettled outgoing HTLC; l1 claims it with the preimage, l2 learns it.
#[test]
fn permfail_htlc_out() {
    let conf = Conf::from_nodes([
        NodeConf::default().with_pyln_defaults(),
        NodeConf::default()
            .with_pyln_defaults()
            .with_feerates(Some(Feerates::uniform(7500)))
            .with_dev_disconnect(["+WIRE_REVOKE_AND_ACK", "permfail"]),
    ]);
    if !Lightningd::of(&conf).unwrap().has_option("dev-disconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (--dev-disconnect)");
        return;
    }
    let net = Network::with_conf(&conf).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_channel(l2, l1, 1_000_000).unwrap();

    // This will fail at l2's end.
    l2.sendpay_peer(l1, 200_000_000).unwrap();
    l2.wait_for_log("dev_disconnect permfail").unwrap();
    l2.wait_for_channel_onchain(l1).unwrap();
    net.mine(1).unwrap();
    l1.wait_for_log("Their unilateral tx, old commit point").unwrap();
    l1.wait_for_log(" to ONCHAIN").unwrap();
    l2.wait_for_log(" to ONCHAIN").unwrap();

    // Could happen any order
    let txs = l2
        .wait_for_onchaind_txs(&[
            ("OUR_HTLC_TIMEOUT_TX", "OUR_UNILATERAL/OUR_HTLC"),
            ("OUR_DELAYED_RETURN_TO_WALLET", "OUR_UNILATERAL/DELAYED_OUTPUT_TO_US"),
        ])
        .unwrap();
    assert_eq!(txs[0].blocks, 5);
    assert_eq!(txs[1].blocks, 4);

    // l1 then gets preimage, uses it instead of ignoring
    let fulfill = l1
        .wait_for_onchaind_tx("THEIR_HTLC_FULFILL_TO_US", "THEIR_UNILATERAL/THEIR_HTLC")
        .unwrap();
    assert_eq!(fulfill.blocks, 0);
    // l2 sees l1 fulfill tx.
    net.mine_with_mempool(1, fulfill.txid.as_str()).unwrap();
    l2.wait_for_log("OUR_UNILATERAL/OUR_HTLC gave us preimage").unwrap();

    // l2 can send OUR_DELAYED_RETURN_TO_WALLET after 4 more blocks.
    net.mine(3).unwrap();
    net.mine_with_mempool(95, txs[1].txid.as_str()).unwrap();
    assert!(l2.is_in_log("onchaind complete, forgetting peer").unwrap().is_none());
    net.mine(6).unwrap();
    l1.wait_for_log("onchaind complete, forgetting peer").unwrap();
    l2.wait_for_log("onchaind complete, forgetting peer").unwrap();
}
}

cln_itest::needs_lightningd! {
/// tests/test_closing.py `test_onchain_first_commit`: the opener fails
/// just after funding and drops its first commitment; the fundee's
/// `watchtime-blocks` (10) sets the opener's delay.
#[test]
fn onchain_first_commit() {
    let conf = Conf::from_nodes([
        NodeConf::default()
            .with_pyln_defaults()
            .with_dev_disconnect(["+WIRE_CHANNEL_READY", "permfail"]),
        // Make locktime different, as we once had them reversed!
        NodeConf::default().with_pyln_defaults().with_option("--watchtime-blocks=10"),
    ]);
    if !Lightningd::of(&conf).unwrap().has_option("dev-disconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (--dev-disconnect)");
        return;
    }
    let net = Network::line_graph_with(&conf, Links::Connected).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_wallet(l1, 10_000_000).unwrap();
    l1.call("fundchannel", json!({"id": l2.id().unwrap(), "amount": 1_000_000}))
        .unwrap();
    net.mine_with_mempool(1, 1).unwrap();

    // l1 will drop to chain.
    l1.wait_for_log("permfail").unwrap();
    l1.wait_for_channel_onchain(l2).unwrap();
    net.mine(1).unwrap();
    l1.wait_for_log(" to ONCHAIN").unwrap();
    l2.wait_for_log(" to ONCHAIN").unwrap();

    let tx = l1
        .wait_for_onchaind_tx("OUR_DELAYED_RETURN_TO_WALLET", "OUR_UNILATERAL/DELAYED_OUTPUT_TO_US")
        .unwrap();
    assert_eq!(tx.blocks, 9);
    // 10 later, l1 should collect its to-self payment.
    net.mine(9).unwrap();
    // 94 later, l2 is done.
    net.mine_with_mempool(94, tx.txid.as_str()).unwrap();
    l2.wait_for_log("onchaind complete, forgetting peer").unwrap();
    // Now, 100 blocks and l1 should be done.
    net.mine(6).unwrap();
    l1.wait_for_log("onchaind complete, forgetting peer").unwrap();
}
}

cln_itest::needs_lightningd! {
/// tests/test_closing.py `test_onchain_unwatch`: once its outputs are
/// resolved, onchaind ignores unrelated spends of the wallet.
#[test]
fn onchain_unwatch() {
    let conf = Conf::with_nodes(2).with_pyln_defaults();
    if !Lightningd::of(&conf).unwrap().has_option("dev-disconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (dev-fail)");
        return;
    }
    let net = Network::line_graph_with(&conf, Links::Funded).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    l1.pay_peer(l2, 200_000_000).unwrap();

    l1.call("dev-fail", json!({"id": l2.id().unwrap()})).unwrap();
    l1.wait_for_log("Failing due to dev-fail command").unwrap();
    l1.wait_for_channel_onchain(l2).unwrap();
    net.mine_with_mempool(1, 1).unwrap();
    l1.wait_for_log(" to ONCHAIN").unwrap();
    l2.wait_for_log(" to ONCHAIN").unwrap();

    let tx = l1
        .wait_for_onchaind_tx("OUR_DELAYED_RETURN_TO_WALLET", "OUR_UNILATERAL/DELAYED_OUTPUT_TO_US")
        .unwrap();
    assert_eq!(tx.blocks, 4);
    // 5 later, l1 should collect its to-self payment.
    net.mine(4).unwrap();
    // First time it sees it, onchaind cares.
    net.mine_with_mempool(1, tx.txid.as_str()).unwrap();
    l1.wait_for_log(
        "Resolved OUR_UNILATERAL/DELAYED_OUTPUT_TO_US by our proposal OUR_DELAYED_RETURN_TO_WALLET",
    )
    .unwrap();

    // Now test unrelated onchain churn.
    // Daemon gets told about wallet; says it doesn't care.
    let addr = l1.call("newaddr", json!({"addresstype": "bech32"})).unwrap()["bech32"].clone();
    l1.call("withdraw", json!({"destination": addr, "satoshi": "all"})).unwrap();
    net.mine(1).unwrap();
    l1.wait_for_log("but we don't care").unwrap();
    // And lightningd should respect that!
    assert!(l1.is_in_log("Can't unwatch txid").unwrap().is_none());

    // So these should not generate further messages
    let mark = l1.log_mark();
    for _ in 0..5 {
        let addr = l1.call("newaddr", json!({"addresstype": "bech32"})).unwrap()["bech32"].clone();
        l1.call("withdraw", json!({"destination": addr, "satoshi": "all"})).unwrap();
        net.mine(1).unwrap();
    }
    // We won't see this again.
    let again = l1
        .log_lines()
        .unwrap()
        .into_iter()
        .skip(mark.line())
        .any(|l| l.contains("but we don't care"));
    assert!(!again);
}
}

cln_itest::needs_lightningd! {
/// tests/test_closing.py `test_onchain_timeout[True]`: l1 fails just after
/// an underpaying HTLC is irrevocably committed and times it out on chain,
/// through an HTLC timeout transaction lightningd may replace by fee (with
/// the default channel type: upstream's case `anchors=True`).
#[test]
fn onchain_timeout() {
    let conf = Conf::from_nodes([
        NodeConf::default()
            .with_pyln_defaults()
            .with_feerates(Some(Feerates::uniform(7500)))
            .with_dev_disconnect(["+WIRE_REVOKE_AND_ACK*3", "permfail"]),
        NodeConf::default().with_pyln_defaults(),
    ]);
    if !Lightningd::of(&conf).unwrap().has_option("dev-disconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (--dev-disconnect)");
        return;
    }
    let net = Network::line_graph_with(&conf, Links::Funded).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));

    let inv = l2.invoice(100_000_000, "onchain_timeout").unwrap();
    // We underpay, so it fails.
    let route = json!([{
        "amount_msat": 100_000_000 - 1,
        "id": l2.id().unwrap(),
        "delay": 5,
        "channel": l1.short_channel_id(l2).unwrap().unwrap(),
    }]);
    let sendpay = |groupid: u64| {
        l1.call(
            "sendpay",
            json!({"route": route, "payment_hash": inv.payment_hash,
                   "payment_secret": inv.payment_secret, "groupid": groupid}),
        )
        .unwrap()
    };
    sendpay(1);
    let first = l1.call("waitsendpay", json!({"payment_hash": inv.payment_hash}));
    assert!(first.unwrap_err().rpc_code().is_some());

    // Make sure CLTVs are different, in case it confuses onchaind.
    net.mine(1).unwrap();

    // Second one will cause drop to chain.
    sendpay(2);
    let payfuture = l1.spawn_call("waitsendpay", json!({"payment_hash": inv.payment_hash}));

    // l1 will drop to chain.
    l1.wait_for_log("permfail").unwrap();
    l1.wait_for_channel_onchain(l2).unwrap();
    net.mine(1).unwrap();
    l1.wait_for_log(" to ONCHAIN").unwrap();
    l2.wait_for_log(" to ONCHAIN").unwrap();

    // Could happen any order.
    let txs = l1
        .wait_for_onchaind_txs(&[
            ("OUR_DELAYED_RETURN_TO_WALLET", "OUR_UNILATERAL/DELAYED_OUTPUT_TO_US"),
            ("OUR_HTLC_TIMEOUT_TX", "OUR_UNILATERAL/OUR_HTLC"),
        ])
        .unwrap();
    assert_eq!(txs[0].blocks, 4);
    assert_eq!(txs[1].blocks, 5);
    net.mine(4).unwrap();
    net.mine_with_mempool(1, txs[0].txid.as_str()).unwrap();
    net.mine_txid_or_rbf(l1, &txs[1].txid, 1).unwrap();

    // After the first block it saw htlc_timeout_tx and planned this:
    let tx = l1
        .wait_for_onchaind_tx(
            "OUR_DELAYED_RETURN_TO_WALLET",
            "OUR_HTLC_TIMEOUT_TX/DELAYED_OUTPUT_TO_US",
        )
        .unwrap();
    assert_eq!(tx.blocks, 4);

    // We use 3 blocks for "reasonable depth"
    net.mine(2).unwrap();
    // It should fail.
    let err = payfuture.wait().unwrap_err();
    assert!(
        err.rpc_message().is_some_and(|m| m.contains("WIRE_PERMANENT_CHANNEL_FAILURE: timed out")),
        "{err}"
    );
    net.mine(2).unwrap();

    // l1 spends HTLC (depth = 5 blocks). 89 later, l2 is done.
    net.mine_with_mempool(89, tx.txid.as_str()).unwrap();
    l2.wait_for_log("onchaind complete, forgetting peer").unwrap();
    // Now, 100 blocks and l1 should be done.
    net.mine(10).unwrap();
    assert!(l1.is_in_log("onchaind complete, forgetting peer").unwrap().is_none());
    net.mine(1).unwrap();
    l1.wait_for_log("onchaind complete, forgetting peer").unwrap();

    // Payment failed, BTW
    let invoices = l2.call("listinvoices", json!({"label": "onchain_timeout"})).unwrap();
    assert_eq!(cln_itest::only_one(&invoices["invoices"]).unwrap()["status"], json!("unpaid"));
}
}
