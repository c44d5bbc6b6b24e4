//! Ports of upstream reorg tests (tests/test_misc.py): a funding
//! transaction moved to a later block by `simple_reorg`, so the channel's
//! short_channel_id changes under the nodes' feet. Upstream's heights
//! (103, 104, ...) follow from pyln's 101 initial blocks; here they are
//! read from bitcoind. Each needs developer options: on a lightningd
//! without them the test says so and returns.

use cln_itest::{only_one, Conf, Lightningd, Links, MockReply, Network, NodeConf};
use pyln_ports::plugin;
use serde_json::json;

cln_itest::needs_lightningd! {
/// tests/test_misc.py `test_funding_reorg_remote_lags`: nodes may disagree
/// about short_channel_id before channel announcement. l1 sees the
/// funding transaction move one block later while l2, kept from seeing
/// new blocks, still has the old one; once l2 sees them too, both use
/// the new short_channel_id and gossip has only it.
#[test]
fn funding_reorg_remote_lags() {
    // may_reconnect so channeld will restart; bad gossip can happen due
    // to reorg. If it's not zeroconf, l2 will terminate on reorg (v26.06).
    let node = NodeConf::default()
        .with_pyln_defaults()
        .with_option("--funding-confirms=1")
        .with_option("--dev-fast-reconnect")
        .may_reconnect()
        .allow_bad_gossip()
        .allow_warning()
        .with_plugin(plugin("zeroconf_selective.py"), [("zeroconf_allow", "any")]);
    let conf = Conf::from_nodes([node.clone(), node]);
    if !Lightningd::of(&conf).unwrap().has_option("dev-fast-reconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (--dev-fast-reconnect)");
        return;
    }
    let net = Network::line_graph_with(&conf, Links::Connected).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_wallet(l1, 10_000_000).unwrap();
    let funded_at = net.bitcoind().height().unwrap() + 1; // upstream: 103

    l1.call("fundchannel", json!({"id": l2.id().unwrap(), "amount": "all"})).unwrap();
    net.mine_with_mempool(5, 1).unwrap();
    let (old, new) = (format!("{funded_at}x1x0"), format!("{}x1x0", funded_at + 1));
    l1.wait_local_channel_active(&old).unwrap();
    l2.wait_local_channel_active(&old).unwrap();

    // Make l2 temporary blind for blocks > funded_at + 4
    l2.bitcoind_proxy().mock("getblockhash", |_| {
        MockReply::error(-8, "Block height out of range")
    });

    // Reorg changes short_channel_id old to new, l1 sees it, restarts
    // channeld. (bitcoind's simple_reorg: l2 never sees the new tip.)
    net.bitcoind().simple_reorg(funded_at, 1).unwrap();
    // But now it's one block later, we need another block to make it
    // announceable.
    net.bitcoind().mine(1).unwrap();
    // v26.06's line, then v23.02's.
    l1.wait_for_log(format!(
        r"Short channel id changed from {old}->{new}|short_channel_id changed to {new} \(was {old}\)"
    ))
    .unwrap();

    // We are OK with this! l2 has l1's announcement signatures for the
    // new short_channel_id while it still has the old one: v26.06 logs
    // it, v23.02's status says l1 needs l2's signatures.
    let sigs = format!(r"channel_gossip: received announcement sigs for {new} \(we have {old}\)");
    let waiting = json!([
        "CHANNELD_NORMAL:Reconnected, and reestablished.",
        "CHANNELD_NORMAL:Channel ready for use. They need our announcement signatures."
    ]);
    cln_itest::wait_until("l2 to get l1's signatures for the new scid", net.conf().timeout, |last| {
        if l2.is_in_log(sigs.as_str())?.is_some() {
            return Ok(Some(()));
        }
        let channels = l2.call("listpeerchannels", json!({}))?;
        let status = only_one(&channels["channels"])?["status"].clone();
        *last = status.to_string();
        Ok((status == waiting).then_some(()))
    })
    .unwrap();

    // Unblinding l2 brings it back in sync, restarts channeld and sends
    // its announce sig
    assert!(l2.bitcoind_proxy().unmock("getblockhash"));
    l2.wait_local_channel_active(&new).unwrap();
    let channels = l2.call("listpeerchannels", json!({})).unwrap();
    assert!(
        !channels["channels"].as_array().unwrap().iter().any(|c| c["short_channel_id"] == json!(old)),
        "{channels}"
    );
    cln_itest::wait_until("l2's gossip to have only the new scid", net.conf().timeout, |last| {
        let gossip = l2.call("listchannels", json!({}))?;
        let scids: Vec<_> =
            gossip["channels"].as_array().unwrap().iter().map(|c| c["short_channel_id"].clone()).collect();
        *last = format!("{scids:?}");
        Ok((scids == [json!(new), json!(new)]).then_some(()))
    })
    .unwrap();

    l1.call("close", json!({"id": l2.id().unwrap()})).unwrap();
    net.mine_with_mempool(1, 1).unwrap();
    for node in [l1, l2] {
        // v26.06's line, then v23.02's.
        node.wait_for_log("closing soon due to the funding outpoint being spent|Deleting channel")
            .unwrap();
    }
}
}

cln_itest::needs_lightningd! {
/// tests/test_misc.py `test_funding_reorg_private`: the funding
/// transaction of a private channel moves two blocks later while l1 is
/// stopped; l2 drops the old block, and both use the new
/// short_channel_id once l1 is back (its `rescan` finds the fork).
#[test]
fn funding_reorg_private() {
    // Rescan to detect reorg at restart and may_reconnect so channeld
    // will restart. Reorg can cause bad gossip msg. If it's not
    // zeroconf, we'll terminate on reorg (v26.06).
    let node = NodeConf::default()
        .with_pyln_defaults()
        .with_option("--funding-confirms=2")
        .with_option("--rescan=10")
        .with_option("--dev-fast-reconnect")
        .may_reconnect()
        .allow_bad_gossip()
        .allow_warning()
        .with_plugin(plugin("zeroconf_selective.py"), [("zeroconf_allow", "any")]);
    let conf = Conf::from_nodes([node.clone(), node]);
    if !Lightningd::of(&conf).unwrap().has_option("dev-fast-reconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (--dev-fast-reconnect)");
        return;
    }
    let net = Network::line_graph_with(&conf, Links::Connected).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_wallet(l1, 10_000_000).unwrap(); // height 102
    net.mine(3).unwrap(); // heights 103-105
    let funded_at = net.bitcoind().height().unwrap() + 1; // upstream: 106

    l1.call("fundchannel", json!({"id": l2.id().unwrap(), "amount": "all", "announce": false}))
        .unwrap();
    net.mine_with_mempool(1, 1).unwrap(); // height 106
    // l2 (zeroconf) is ready, l1 needs a second confirmation: v26.06's
    // status, then v23.02's.
    let lockin = [
        json!(["CHANNELD_AWAITING_LOCKIN:They've confirmed channel ready, we haven't yet."]),
        json!(["CHANNELD_AWAITING_LOCKIN:Funding needs 1 more confirmations to be ready."]),
    ];
    cln_itest::wait_until("l1 to wait for its second confirmation", net.conf().timeout, |last| {
        let channels = l1.call("listpeerchannels", json!({}))?;
        let status = only_one(&channels["channels"])?["status"].clone();
        *last = status.to_string();
        Ok(lockin.contains(&status).then_some(()))
    })
    .unwrap();
    net.mine(1).unwrap(); // height 107
    let (old, new) = (format!("{funded_at}x1x0"), format!("{}x1x0", funded_at + 2));
    l1.wait_local_channel_active(&old).unwrap();
    l2.wait_local_channel_active(&old).unwrap();
    l1.stop().unwrap();

    // Create a fork that changes short_channel_id from old to new
    net.simple_reorg(funded_at, 2).unwrap(); // heights 106-108
    net.mine(1).unwrap(); // height 109 (to reach minimum_depth=2 again)
    l1.start().unwrap();

    // l2 was running, sees last stale block being removed (v26.06's
    // line, then v23.02's)
    l2.wait_for_logs([
        format!("Removing stale block {funded_at}"),
        "Funding txid .* REORG from depth 2|Got depth change .->0 for .* REORG".to_string(),
    ])
    .unwrap();

    // New one should replace old.
    l2.wait_local_channel_active(&new).unwrap();
    let channels = l2.call("listpeerchannels", json!({})).unwrap();
    assert!(
        !channels["channels"].as_array().unwrap().iter().any(|c| c["short_channel_id"] == json!(old)),
        "{channels}"
    );

    l1.call("close", json!({"id": l2.id().unwrap()})).unwrap();
    net.mine_with_mempool(1, 1).unwrap();
}
}
