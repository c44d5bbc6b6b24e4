//! pyln-testing's channel helpers on real nodes: a balanced channel
//! (single- and dual-funded), draining it, and waiting for gossip, a
//! route and settled HTLCs.

use cln_itest::{Conf, Links, Network, Node};
use serde_json::{json, Value};

/// `node`'s only channel with `peer`, as `listpeerchannels` lists it.
fn channel(node: &Node, peer: &Node) -> Value {
    node.channel_with(peer).unwrap().expect("a channel")
}

/// An amount in msat, as a number or (v23.02's `funding`) `"<n>msat"`.
fn msat(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str()?.strip_suffix("msat")?.parse().ok())
        .unwrap_or_else(|| panic!("not an msat amount: {v}"))
}

/// What `node` has in its channel with `peer`, in msat.
fn to_us(node: &Node, peer: &Node) -> u64 {
    msat(&channel(node, peer)["to_us_msat"])
}

cln_itest::needs_lightningd! {
/// Single-funded: l1 funds the channel and pushes half to l2, so each
/// side has half. Draining it leaves l1 unable to send even 1 msat, and
/// l2 holds what the drain says it sent.
#[test]
fn a_balanced_channel_has_half_on_each_side_until_drained() {
    let net = Network::start().unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    let opened = net.fund_balanced_channel(l1, l2, 1_000_000).unwrap();
    assert_eq!(opened.short_channel_id, l2.short_channel_id(l1).unwrap());
    assert_eq!(to_us(l1, l2), 500_000_000);
    assert_eq!(to_us(l2, l1), 500_000_000);
    let funding = &channel(l2, l1)["funding"];
    assert_eq!(msat(&funding["local_funds_msat"]), 0, "{funding}");
    assert_eq!(msat(&funding["pushed_msat"]), 500_000_000, "{funding}");

    let sent = l1.drain(l2).unwrap();
    assert!(sent > 400_000_000 && sent < 500_000_000, "drained {sent} msat");
    assert_eq!(to_us(l2, l1), 500_000_000 + sent);
    let err = l1.pay_peer(l2, 1).unwrap_err();
    assert!(err.rpc_code().is_some(), "{err:#}");
}
}

cln_itest::needs_lightningd! {
/// Dual-funded (both nodes offer it): each side puts in half itself,
/// nothing is pushed.
#[test]
fn a_balanced_channel_between_dual_funding_nodes_is_funded_by_both() {
    let conf = Conf::with_nodes(2).with_node_option("--experimental-dual-fund");
    let net = Network::with_conf(&conf).unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_balanced_channel(l1, l2, 1_000_000).unwrap();
    let funding = &channel(l2, l1)["funding"];
    assert_eq!(msat(&funding["local_funds_msat"]), 500_000_000, "{funding}");
    assert_eq!(msat(&funding["remote_funds_msat"]), 500_000_000, "{funding}");
    assert_eq!(to_us(l1, l2), 500_000_000);
    assert_eq!(to_us(l2, l1), 500_000_000);
}
}

cln_itest::needs_lightningd! {
/// On a line whose channels are confirmed but whose gossip nobody waited
/// for: l1 hears both directions of both channels, with the fees each
/// end set, then finds a route to l3 over l2; a payment l2 starts is
/// settled on both sides once the channel is quiescent.
#[test]
fn gossip_routes_and_settled_htlcs_are_waited_for() {
    let net = Network::with_conf(&Conf::with_nodes(3)).unwrap();
    let scids = net.link_line_with(Links::Funded).unwrap();
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));
    let scids: Vec<&str> = scids.iter().map(String::as_str).collect();

    l1.wait_for_channel_updates(&scids).unwrap();
    let gossip = l1.call("listchannels", json!({"short_channel_id": scids[1]})).unwrap();
    let mut sources: Vec<&str> =
        gossip["channels"].as_array().unwrap().iter().map(|c| c["source"].as_str().unwrap()).collect();
    sources.sort_unstable();
    let (id2, id3) = (l2.id().unwrap(), l3.id().unwrap());
    let mut ends = vec![id2.as_str(), id3.as_str()];
    ends.sort_unstable();
    assert_eq!(sources, ends, "{gossip}");

    let route = l1.wait_for_route(l3).unwrap();
    let hops = route.as_array().unwrap();
    assert_eq!(hops.len(), 2, "{route}");
    assert_eq!(hops[0]["id"], json!(id2));
    assert_eq!(hops[1]["id"], json!(id3));
    assert_eq!(hops[1]["channel"], json!(scids[1]));

    let invoice = l2.sendpay_peer(l3, 50_000_000).unwrap();
    l2.wait_channel_quiescent(l3).unwrap();
    for (node, peer) in [(l2, l3), (l3, l2)] {
        assert_eq!(channel(node, peer)["htlcs"], json!([]), "{}", node.name());
    }
    let paid = l3.call("listinvoices", json!({"label": invoice.label})).unwrap();
    assert_eq!(paid["invoices"][0]["status"], json!("paid"), "{paid}");
}
}
