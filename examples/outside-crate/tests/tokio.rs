//! `#[tokio::test]`: the same sync API inside a runtime, directly and
//! through `spawn_blocking`, plus `cln-rpc`'s async client.

mod common;

use std::time::Duration;

use cln_itest::cln_rpc::model::requests::GetinfoRequest;
use cln_itest::{Conf, Network, NodeConf};
use serde_json::json;

cln_itest::needs_lightningd! {
#[tokio::test]
async fn a_network_built_inside_the_runtime_answers_and_drops_there() {
    let mut conf = Conf::with_nodes(0);
    conf.nodes = vec![NodeConf::default().with_plugin(common::hello_plugin(), [("greeting", "hey")])];
    let net = Network::with_conf(&conf).expect("starting the regtest network");
    let l1 = net.node(0);
    let reply = l1.call("hello", json!(["tokio"])).expect("sync call inside the runtime");
    assert_eq!(reply["greeting"], json!("hey tokio"));

    // Typed and async, on this test's own runtime.
    let mut rpc = l1.cln_rpc().await.expect("connecting cln-rpc");
    let info = rpc.call_typed(&GetinfoRequest {}).await.expect("typed getinfo");
    assert_eq!(info.id.to_string(), l1.id().unwrap());
    let pids: Vec<u32> = net.nodes().iter().filter_map(|n| n.pid()).collect();
    drop(net);
    for pid in pids {
        assert!(!cln_itest::pid_alive(pid), "lightningd {pid} survived drop");
    }
}
}

cln_itest::needs_lightningd! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_built_in_spawn_blocking_still_answers_after_25s_idle() {
    // tokio retires idle blocking-pool threads after 10 s; the daemons must
    // not die with the thread that built the network.
    let net = tokio::task::spawn_blocking(|| Network::with_conf(&Conf::with_nodes(1)))
        .await
        .unwrap()
        .expect("starting the regtest network");
    let pid = net.node(0).pid().unwrap();
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(net.node(0).pid(), Some(pid));
    assert!(net.node(0).is_running(), "lightningd died while idle");
    let height = net.node(0).blockheight().expect("lightningd answers after 25 s idle");
    assert_eq!(height, net.bitcoind().height().unwrap());
    net.mine(1).expect("mining after 25 s idle");
    drop(net); // inside the runtime, on a worker thread
    assert!(!cln_itest::pid_alive(pid), "lightningd {pid} survived drop");
}
}
