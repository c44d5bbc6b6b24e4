//! Ports of upstream payment tests (tests/test_pay.py): channel fees set
//! with `setchannel`, used by a payment and refused once the channel is
//! closing.

use cln_itest::{only_one, Conf, Lightningd, Network, Node, OpenChannel};
use serde_json::json;

cln_itest::needs_lightningd! {
/// tests/test_pay.py `test_setchannel_state`: l2 sets a fee on its
/// channel to l3 before it is locked in; once announced, l1's payment to
/// l3 pays exactly that fee; once l3 has closed the channel on chain,
/// `setchannel` is refused.
#[test]
fn setchannel_state() {
    let conf = Conf::with_nodes(3)
        .with_pyln_defaults()
        .with_node_option("--fee-base=0")
        .with_node_option("--fee-per-satoshi=0");
    let lightningd = Lightningd::of(&conf).unwrap();
    if !lightningd.has_option("dev-disconnect") {
        eprintln!("SKIPPED: this lightningd has no developer options (pay's shadow route stays on)");
        return;
    }
    // Named `dev_use_shadow` since developer options are a run-time
    // switch (`--developer`); `use_shadow` in developer builds before.
    let no_shadow = if lightningd.has_option("developer") { "dev_use_shadow" } else { "use_shadow" };
    let net = Network::with_conf(&conf).unwrap();
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));

    // connection and funding (upstream also waits until l1 and l2 see
    // this channel in gossip; `wait_for_route` below covers that)
    net.fund_channel(l1, l2, 1_000_000).unwrap();
    net.open_channel(l2, l3, &OpenChannel::new(1_000_000).unconfirmed()).unwrap();
    let state = |node: &Node, peer: &Node| -> cln_itest::Result<String> {
        let channels = node.call("listpeerchannels", json!({"id": peer.id()?}))?;
        Ok(only_one(&channels["channels"])?["state"].as_str().unwrap_or_default().to_string())
    };

    // try setting the fee in state AWAITING_LOCKIN should be possible
    assert_eq!(state(l2, l3).unwrap(), "CHANNELD_AWAITING_LOCKIN");
    let result = l2
        .call("setchannel", json!({"id": l3.id().unwrap(), "feebase": 42, "feeppm": 0}))
        .unwrap();
    assert_eq!(result["channels"][0]["peer_id"], json!(l3.id().unwrap()));

    // test routing correct new fees once routing is established
    // (upstream's mine_funding_to_announce: 6 blocks)
    net.mine(6).unwrap();
    l1.wait_for_route(l3).unwrap();
    let inv = l3.invoice(100_000, "test_setchannel_state").unwrap();
    let result = l1.pay_with(&inv.bolt11, json!({no_shadow: false})).unwrap();
    assert_eq!(result["status"], json!("complete"));
    assert_eq!(result["amount_sent_msat"], json!(100_042));

    // Disconnect and unilaterally close from l3 to l2
    let scid = l3.short_channel_id(l2).unwrap().unwrap();
    l3.call("disconnect", json!({"id": l2.id().unwrap(), "force": true})).unwrap();
    let result = l3.call("close", json!({"id": scid, "unilateraltimeout": 1})).unwrap();
    assert_eq!(result["type"], json!("unilateral"));

    // wait for l2 to see unilateral close via bitcoin network
    let commitment = l3.wait_for_channel_onchain(l2).unwrap();
    net.mine_with_mempool(1, commitment.as_str()).unwrap();
    cln_itest::wait_until("l2 to see the close", net.conf().timeout, |last| {
        let now = state(l2, l3)?;
        *last = now.clone();
        Ok((now != "CHANNELD_NORMAL").then_some(()))
    })
    .unwrap();

    // Try to setchannel in order to raise expected error.
    let err = l2
        .call("setchannel", json!({"id": l3.id().unwrap(), "feebase": 10, "feeppm": 1}))
        .unwrap_err();
    assert_eq!(err.rpc_code(), Some(-1), "{err:#}");
}
}
