//! `simple_reorg` on real nodes: a transaction moved to a later block by
//! a fork, bitcoind holding it there, and every node on the fork's tip
//! (and knowing where its output now is) when the call returns.

use cln_itest::{Network, Node};
use serde_json::{json, Value};

/// The block height at which `node`'s wallet lists the output of `txid`.
fn output_height(node: &Node, txid: &str) -> Value {
    let funds = node.call("listfunds", json!({})).unwrap();
    let outputs = funds["outputs"].as_array().unwrap();
    let output = outputs.iter().find(|o| o["txid"] == json!(txid));
    output.unwrap_or_else(|| panic!("no output of {txid} in {funds}"))["blockheight"].clone()
}

/// The txids of the block at `height`, and its hash.
fn block_at(net: &Network, height: u64) -> (String, Vec<Value>) {
    let hash = net.bitcoind().rpc("getblockhash", json!([height])).unwrap();
    let block = net.bitcoind().rpc("getblock", json!([hash])).unwrap();
    (
        hash.as_str().unwrap().to_string(),
        block["tx"].as_array().unwrap().clone(),
    )
}

cln_itest::needs_lightningd! {
/// A payment to l1's wallet mined at `h` is moved to `h + 2` by
/// `simple_reorg(h, 2)`: the new chain is one block longer than the old,
/// the old blocks are gone, both nodes are at the new tip when it
/// returns, and l1's wallet already has the output at its new height.
/// `shift` 0 then replaces the block holding it with another at the same
/// height. A fork outside the chain is refused, saying which heights it
/// may replace.
#[test]
fn simple_reorg_moves_a_transaction_and_every_node_follows() {
    let net = Network::start().unwrap();
    let (l1, l2) = (net.node(0), net.node(1));
    let addr = l1.call("newaddr", json!({"addresstype": "bech32"})).unwrap()["bech32"].clone();
    let txid = net.bitcoind().send_to(addr.as_str().unwrap(), 100_000).unwrap();
    let mined = net.mine_with_mempool(1, txid.as_str()).unwrap();
    let h = net.bitcoind().height().unwrap();
    cln_itest::wait_until("l1 to list the output", net.conf().timeout, |last| {
        let height = output_height(l1, &txid);
        *last = format!("at {height}");
        Ok((height == json!(h)).then_some(()))
    })
    .unwrap();
    net.mine(3).unwrap();

    let fork = net.simple_reorg(h, 2).unwrap();
    // The old chain ended at h + 3; the fork at h + 4, one block longer.
    assert_eq!(net.bitcoind().height().unwrap(), h + 4);
    assert_eq!(fork.len(), 5, "blocks h..=h+4: {fork:?}");
    let (hash, txs) = block_at(&net, h);
    assert_ne!(hash, mined[0], "block {h} was replaced");
    assert!(!txs.contains(&json!(txid)));
    for height in [h + 1, h + 3, h + 4] {
        assert!(!block_at(&net, height).1.contains(&json!(txid)), "in block {height}");
    }
    let (moved_to, txs) = block_at(&net, h + 2);
    assert!(txs.contains(&json!(txid)), "{txid} not in block {}: {txs:?}", h + 2);
    for node in [l1, l2] {
        assert_eq!(node.blockheight().unwrap(), h + 4, "{} is behind", node.name());
    }
    assert_eq!(output_height(l1, &txid), json!(h + 2));

    // shift 0: the same height, another block.
    let fork = net.simple_reorg(h + 2, 0).unwrap();
    assert_eq!(fork.len(), 4, "blocks h+2..=h+5: {fork:?}");
    let (hash, txs) = block_at(&net, h + 2);
    assert_ne!(hash, moved_to);
    assert!(txs.contains(&json!(txid)));
    assert_eq!(l1.blockheight().unwrap(), h + 5);
    assert_eq!(output_height(l1, &txid), json!(h + 2));

    let err = net.simple_reorg(h + 6, 0).unwrap_err();
    assert!(format!("{err:#}").contains(&format!("1..={}", h + 5)), "{err:#}");
    assert_eq!(net.bitcoind().height().unwrap(), h + 5, "nothing was invalidated");
}
}
