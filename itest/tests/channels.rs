//! The chain and channel helpers pyln-testing users reach for, on real
//! nodes: mining given transactions, opening channels unconfirmed or
//! private, finding a channel's ids by peer, the `line_graph` variants,
//! invoices and payments with extra parameters, fault options.

use cln_itest::{Amount, Conf, Links, Mempool, Network, NodeConf, OpenChannel, Version};
use serde_json::{json, Value};

/// The txids of block `hash`.
fn block_txids(net: &Network, hash: &str) -> Vec<Value> {
    net.bitcoind().rpc("getblock", json!([hash])).unwrap()["tx"]
        .as_array()
        .unwrap()
        .clone()
}

cln_itest::needs_lightningd! {
#[test]
fn mine_with_mempool_mines_the_awaited_transactions_and_syncs_the_nodes() {
    let net = Network::with_conf(&Conf::with_nodes(1)).unwrap();
    let l1 = net.node(0);
    let address = l1.call("newaddr", json!({"addresstype": "bech32"})).unwrap()["bech32"].as_str().unwrap().to_string();
    let txid = net.bitcoind().send_to(&address, 100_000).unwrap();
    let hashes = net.mine_with_mempool(2, &txid).unwrap();
    assert_eq!(hashes.len(), 2);
    assert!(block_txids(&net, &hashes[0]).contains(&json!(txid)));
    // Every node has processed the blocks when it returns.
    assert_eq!(l1.blockheight().unwrap(), net.bitcoind().height().unwrap());

    // A number of transactions, whichever they are.
    let second = net.bitcoind().send_to(&address, 50_000).unwrap();
    let seen = net.wait_for_mempool(1).unwrap();
    assert!(seen.contains(&second), "{seen:?}");
    let hashes = net.mine_with_mempool(1, Mempool::AtLeast(1)).unwrap();
    assert!(block_txids(&net, &hashes[0]).contains(&json!(second)));
    assert!(net.mine_with_mempool(0, 1).is_err(), "no block, no transactions mined");
}
}

cln_itest::needs_lightningd! {
#[test]
fn an_unconfirmed_channel_gets_its_ids_once_mined() {
    let net = Network::start().unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    let opened = net.open_channel(l1, l2, &OpenChannel::new(300_000).unconfirmed()).unwrap();
    assert_eq!(opened.short_channel_id, None);
    let chan = l1.channel_with(l2).unwrap().expect("l1 lists the channel");
    assert_eq!(chan["state"], json!("CHANNELD_AWAITING_LOCKIN"), "{chan:#}");
    assert_eq!(l1.short_channel_id(l2).unwrap(), None, "not confirmed, no scid");
    assert_eq!(l1.channel_id(l2).unwrap().as_deref(), Some(opened.channel_id.as_str()));
    assert_eq!(l2.channel_id(l1).unwrap().as_deref(), Some(opened.channel_id.as_str()));

    let hashes = net.mine_with_mempool(net.conf().channel_confirmations, &opened.txid).unwrap();
    net.wait_channel_state(l1, &l2.id().unwrap(), "CHANNELD_NORMAL").unwrap();
    let block = net.bitcoind().rpc("getblock", json!([hashes[0]])).unwrap();
    let index = block["tx"].as_array().unwrap().iter().position(|t| t == &json!(opened.txid)).unwrap();
    let expected = format!("{}x{index}x{}", block["height"], opened.outnum);
    assert_eq!(l1.short_channel_id(l2).unwrap().as_deref(), Some(expected.as_str()));
    assert_eq!(l2.short_channel_id(l1).unwrap().as_deref(), Some(expected.as_str()));
    assert_eq!(net.node(0).short_channel_id(net.node(0)).unwrap(), None, "no channel with itself");
}
}

cln_itest::needs_lightningd! {
/// l1 -> l2 private, l2 -> l3 announced: once l3's gossip shows the
/// public channel (and both ends' announcements), it knows nothing of the
/// private one, which l1 lists as private.
#[test]
fn a_private_channel_stays_out_of_gossip() {
    let net = Network::with_conf(&Conf::with_nodes(3)).unwrap();
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));
    let private = net.open_channel(l1, l2, &OpenChannel::new(200_000).private()).unwrap();
    let public = net
        .open_channel(l2, l3, &OpenChannel::new(200_000).wait_for_announce().param("push_msat", 10_000_000))
        .unwrap();
    let (private_scid, public_scid) = (private.short_channel_id.unwrap(), public.short_channel_id.unwrap());
    assert_eq!(l1.channel_with(l2).unwrap().unwrap()["private"], json!(true));
    let seen = l3.call("listchannels", json!({"short_channel_id": public_scid})).unwrap();
    assert_eq!(seen["channels"].as_array().unwrap().len(), 2, "{seen:#}");
    let unseen = l3.call("listchannels", json!({"short_channel_id": private_scid})).unwrap();
    assert_eq!(unseen["channels"], json!([]), "{unseen:#}");
    // The extra fundchannel parameter reached lightningd: l3 got the push.
    let l3_side = l3.channel_with(l2).unwrap().unwrap();
    assert_eq!(l3_side["to_us_msat"], json!(10_000_000), "{l3_side:#}");
    let refused = net.open_channel(l1, l3, &OpenChannel::new(100_000).private().wait_for_announce());
    assert!(format!("{:#}", refused.unwrap_err()).contains("needs a confirmed, announced channel"));
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_connected_line_has_peers_and_no_channels() {
    let net = Network::line_graph_with(&Conf::with_nodes(3), Links::Connected).unwrap();
    let (l1, l2, l3) = (net.node(0), net.node(1), net.node(2));
    let peers = |n: &cln_itest::Node| n.call("listpeers", json!({})).unwrap()["peers"].as_array().unwrap().len();
    assert_eq!((peers(l1), peers(l2), peers(l3)), (1, 2, 1));
    for node in net.nodes() {
        let chans = node.call("listpeerchannels", json!({})).unwrap();
        assert_eq!(chans["channels"], json!([]), "{}: {chans:#}", node.name());
    }
}
}

cln_itest::needs_lightningd! {
#[test]
fn private_and_funded_lines_have_normal_channels_announced_or_not() {
    for links in [Links::Private, Links::Funded] {
        let net = Network::with_conf(&Conf::with_nodes(2)).unwrap();
        let scids = net.link_line_with(links).unwrap();
        let (l1, l2) = (net.node(0), net.node(1));
        assert_eq!(scids.len(), 1, "{links:?}");
        assert_eq!(l1.short_channel_id(l2).unwrap().as_ref(), Some(&scids[0]));
        let chan = l2.channel_with(l1).unwrap().unwrap();
        assert_eq!(chan["state"], json!("CHANNELD_NORMAL"), "{links:?}: {chan:#}");
        assert_eq!(chan["private"], json!(links == Links::Private), "{links:?}: {chan:#}");
    }
}
}

cln_itest::needs_lightningd! {
/// An `any` invoice with a description and preimage of our choosing, paid
/// with an amount; and bad extra parameters refused before anything is
/// sent.
#[test]
fn invoices_and_payments_take_extra_parameters() {
    let net = Network::start().unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_channel(l1, l2, 500_000).unwrap();
    let preimage = "42".repeat(32);
    let invoice = l2
        .invoice_with(Amount::Any, "tip", json!({"description": "a tip for l2", "preimage": preimage}))
        .unwrap();
    let decoded = l1.call("decode", json!({"string": invoice.bolt11})).unwrap();
    assert_eq!(decoded["description"], json!("a tip for l2"), "{decoded:#}");
    assert!(decoded.get("amount_msat").is_none(), "an `any` invoice: {decoded:#}");
    let paid = l1.pay_with(&invoice.bolt11, json!({"amount_msat": 12_345, "label": "to l2"})).unwrap();
    assert_eq!(paid["status"], json!("complete"), "{paid:#}");
    assert_eq!(paid["payment_preimage"], json!(preimage), "{paid:#}");
    let listed = l2.call("listinvoices", json!({"label": "tip"})).unwrap();
    assert_eq!(listed["invoices"][0]["amount_received_msat"], json!(12_345), "{listed:#}");
    let sent = l1.call("listsendpays", json!({"payment_hash": invoice.payment_hash})).unwrap();
    assert_eq!(sent["payments"][0]["label"], json!("to l2"), "{sent:#}");

    let bad = l1.pay_with(&invoice.bolt11, json!(["not", "an", "object"])).unwrap_err();
    assert!(bad.to_string().contains("must be a JSON object"), "{bad}");
    assert_eq!(bad.rpc_code(), None, "refused before anything was sent");
    let err = l2.invoice_with(1000u64, "x", json!(7)).unwrap_err();
    assert!(format!("{err:#}").contains("must be a JSON object"), "{err:#}");
    assert_eq!(l2.call("listinvoices", json!({"label": "x"})).unwrap()["invoices"], json!([]));
}
}

cln_itest::needs_lightningd! {
/// `--dev-disconnect`: l1 drops the connection just before sending
/// `open_channel`, so the first `fundchannel` fails and the second, the
/// rule used up, succeeds. Release builds before v23.11 lack developer
/// options: there the network refuses such a node, saying so.
#[test]
fn dev_disconnect_rules_drop_the_connection_where_asked() {
    // A refused network keeps its directory: under a root the test owns.
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::with_nodes(2);
    conf.tmp_root = Some(root.path().to_path_buf());
    conf.nodes[0] = NodeConf::default().with_dev_disconnect(["-WIRE_OPEN_CHANNEL"]);
    let built = Network::with_conf(&conf);
    let net = match built {
        Ok(net) => net,
        Err(e) => {
            let text = format!("{e:#}");
            assert!(text.contains("NodeConf::dev_disconnect needs a lightningd with developer options"), "{text}");
            eprintln!("SKIPPED the dev-disconnect behaviour: {text}");
            return;
        }
    };
    let (l1, l2) = (net.node(0), net.node(1));
    net.fund_wallet(l1, 1_000_000).unwrap();
    net.connect(l1, l2).unwrap();
    let id = l2.id().unwrap();
    let err = l1.call("fundchannel", json!({"id": id, "amount": 100_000})).unwrap_err();
    assert!(err.rpc_code().is_some(), "lightningd's own error: {err}");
    l1.wait_for_log("dev_disconnect: -WIRE_OPEN_CHANNEL").unwrap();
    let rules = std::fs::read_to_string(l1.lightning_dir().join("regtest/dev-disconnect")).unwrap();
    assert_eq!(rules, "-WIRE_OPEN_CHANNEL\n");
    net.connect(l1, l2).unwrap();
    l1.call("fundchannel", json!({"id": id, "amount": 100_000})).expect("the rule fired once");
}
}

cln_itest::needs_lightningd! {
/// `may_reconnect` decides whether a node gets `--dev-no-reconnect`
/// (where lightningd has it), as pyln-testing does.
#[test]
fn only_nodes_that_may_not_reconnect_get_dev_no_reconnect() {
    let mut conf = Conf::with_nodes(1);
    conf.nodes.push(NodeConf::default().may_reconnect());
    let net = Network::with_conf(&conf).unwrap();
    for (node, expected) in [(net.node(0), true), (net.node(1), false)] {
        let configs = node.call("listconfigs", json!({})).unwrap();
        let text = configs.to_string();
        if node.version() < Version::new(23, 11, 0) {
            assert!(!text.contains("dev-no-reconnect"), "{}: a release build has no such option", node.name());
            continue;
        }
        let set = configs["configs"]["dev-no-reconnect"]["set"] == json!(true);
        assert_eq!(set, expected, "{}: {}", node.name(), configs["configs"]["dev-no-reconnect"]);
    }
}
}
