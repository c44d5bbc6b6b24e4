//! Ports of upstream tests (tests/test_misc.py) that script what bitcoind
//! tells lightningd, through each node's bitcoind proxy (pyln-testing's
//! `rpcproxy.mock_rpc`). Real bitcoind answers everything not mocked.

use cln_itest::{Conf, MockReply, Network, NodeConf};
use serde_json::json;

cln_itest::needs_lightningd! {
/// tests/test_misc.py `test_bitcoin_ibd`: lightningd notices bitcoind's initial block download,
/// warns in `getinfo`, and carries on once it is over.
#[test]
fn lightningd_waits_out_bitcoinds_initial_block_download() {
    let net = Network::with_conf(&Conf::from_nodes([NodeConf::default().not_started()]))
        .expect("starting the network");
    let l1 = net.node(0);
    let mut info = net.bitcoind().rpc("getblockchaininfo", json!([])).unwrap();
    info["initialblockdownload"] = json!(true);
    l1.bitcoind_proxy().mock_result("getblockchaininfo", info);

    // Not `start()`: that waits until lightningd is in sync, which it
    // cannot be yet.
    l1.launch().unwrap();
    l1.wait_for_log("Server started with public key").unwrap();
    assert!(l1.is_in_log("Waiting for initial block download").unwrap().is_some());
    let getinfo = l1.call("getinfo", json!({})).unwrap();
    assert!(getinfo.get("warning_bitcoind_sync").is_some(), "{getinfo:#}");

    // "Finish" the download: bitcoind's real answer again.
    assert!(l1.bitcoind_proxy().unmock("getblockchaininfo"));
    l1.wait_for_log("Bitcoin backend now synced").unwrap();
    l1.wait_ready().unwrap();
    let getinfo = l1.call("getinfo", json!({})).unwrap();
    assert!(getinfo.get("warning_bitcoind_sync").is_none(), "{getinfo:#}");
}
}

cln_itest::needs_lightningd! {
/// tests/test_misc.py `test_bitcoind_fail_first`: a bitcoind answering nonsense while
/// lightningd starts makes it exit with status 1, saying why on stderr.
#[test]
fn nonsense_from_bitcoind_at_startup_stops_lightningd() {
    let net = Network::with_conf(&Conf::from_nodes([NodeConf::default().not_started().may_fail()]))
        .expect("starting the network");
    let l1 = net.node(0);
    l1.bitcoind_proxy()
        .mock_result("getblockhash", json!("not_a_valid_blockhash"));
    l1.launch().unwrap();
    let status = l1.wait_exit().unwrap();
    assert_eq!(status.code(), Some(1), "{status}");
    let said = l1.stderr_matches("bad response to getrawblockbyheight").unwrap();
    assert!(!said.is_empty(), "stderr: {}", l1.stderr().unwrap());
}
}

cln_itest::needs_lightningd! {
/// tests/test_misc.py `test_bitcoin_failure` (partial: its first half):
/// nonsense from bitcoind while lightningd runs makes it die (a crash: `fatal()` aborts), and its log
/// says why.
#[test]
fn nonsense_from_bitcoind_later_kills_lightningd() {
    let net = Network::with_conf(&Conf::from_nodes([
        NodeConf::default()
            .may_fail()
            .allow_log("getrawblockbyheight|FATAL SIGNAL|backtrace"),
    ]))
        .expect("starting the network");
    let l1 = net.node(0);
    // Not between getblockhash and getblock when the mock comes in.
    net.sync_blockheight().unwrap();
    l1.bitcoind_proxy().mock("getblockhash", |_| {
        MockReply::result(json!("not_a_valid_blockhash"))
    });
    // A new block makes lightningd ask for its hash.
    net.bitcoind().mine(1).unwrap();
    l1.wait_for_log("bad response to getrawblockbyheight").unwrap();
    let status = l1.wait_exit().unwrap();
    assert!(!status.success(), "{status}");
}
}
