//! The chain proxy in front of a real regtest bitcoind, driven by the real
//! `bitcoin-cli` with the command line lightningd's bcli plugin uses
//! (`-stdinrpcpass -stdin <method>`, password and params on stdin).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cln_itest::{Answer, ChainProxy, Feerates, HttpFailure, MockReply};
use cln_itest::{Conf, Network};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

fn bitcoind_only() -> Network {
    Network::with_conf(&Conf::with_nodes(0)).expect("starting bitcoind")
}

fn proxy_for(net: &Network) -> ChainProxy {
    ChainProxy::start(format!("127.0.0.1:{}", net.bitcoind().rpc_port()))
        .expect("starting the proxy")
}

/// The real bitcoin-cli: `BITCOIN_CLI`, else the one on PATH.
fn real_bitcoin_cli() -> std::ffi::OsString {
    std::env::var_os("BITCOIN_CLI")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "bitcoin-cli".into())
}

/// What one bitcoin-cli run printed and returned.
#[derive(Debug, PartialEq)]
struct Cli {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the real bitcoin-cli against `port` as bcli (v25.12+) does.
fn cli(net: &Network, port: u16, method: &str, args: &[&str]) -> Cli {
    let b = net.bitcoind();
    let mut child = Command::new(real_bitcoin_cli())
        .args([
            "-regtest".to_string(),
            format!("-datadir={}", b.datadir().display()),
            "-rpcclienttimeout=60".into(),
            "-rpcconnect=127.0.0.1".into(),
            format!("-rpcport={port}"),
            format!("-rpcuser={}", b.rpc_user()),
            "-stdinrpcpass".into(),
            "-stdin".into(),
            method.into(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running bitcoin-cli");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", b.rpc_password()).unwrap();
    for arg in args {
        writeln!(stdin, "{arg}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Cli {
        code: out.status.code().expect("bitcoin-cli exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json_out(run: &Cli) -> Value {
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

cln_itest::needs_bitcoind! {
#[test]
fn forwarded_calls_give_bitcoinds_own_answers() {
    let net = bitcoind_only();
    let proxy = proxy_for(&net);
    let direct = net.bitcoind().rpc_port();
    let no_txid = "00".repeat(32);
    for (method, args) in [
        ("getblockhash", vec!["0"]),
        ("getblockhash", vec!["101"]),
        ("getblockhash", vec!["102"]),
        ("getblockcount", vec![]),
        ("gettxout", vec![no_txid.as_str(), "0"]),
    ] {
        assert_eq!(
            cli(&net, proxy.port(), method, &args),
            cli(&net, direct, method, &args),
            "{method} {args:?} through the proxy and directly"
        );
    }
    let hash = cli(&net, direct, "getblockhash", &["1"]).stdout;
    let block = cli(&net, proxy.port(), "getblock", &[hash.trim(), "0"]);
    assert_eq!(block, cli(&net, direct, "getblock", &[hash.trim(), "0"]));
    assert_eq!(json_out(&cli(&net, proxy.port(), "getblockchaininfo", &[]))["blocks"], 101);

    let calls = proxy.calls();
    assert_eq!(calls.len(), 7);
    assert_eq!(calls[0].params, json!([0]), "bitcoin-cli sent the height as a number");
    assert_eq!(calls[2].answer, Answer::Bitcoind { error_code: Some(-8) }, "{:?}", calls[2]);
    assert!(calls.iter().enumerate().all(|(i, c)| i == 2 || c.answer == Answer::Bitcoind { error_code: None }), "{calls:?}");
}
}

cln_itest::needs_bitcoind! {
#[test]
fn mocked_calls_answer_with_the_mock_and_errors_read_like_bitcoinds() {
    let net = bitcoind_only();
    let proxy = proxy_for(&net);
    let fake_hash = "ab".repeat(32);
    let answer = fake_hash.clone();
    proxy.mock("getblockhash", move |call| match call.param(0).and_then(Value::as_u64) {
        Some(5) => MockReply::result(json!(answer)),
        Some(6) => MockReply::error(-8, "Block height out of range"),
        _ => MockReply::Forward,
    });
    let mocked = cli(&net, proxy.port(), "getblockhash", &["5"]);
    assert_eq!((mocked.code, mocked.stdout, mocked.stderr), (0, format!("{fake_hash}\n"), String::new()));
    let forwarded = cli(&net, proxy.port(), "getblockhash", &["7"]);
    assert_eq!(forwarded, cli(&net, net.bitcoind().rpc_port(), "getblockhash", &["7"]));
    // A mocked error reads exactly as bitcoind's own (bcli checks the
    // exit code, 8 here).
    let mocked_error = cli(&net, proxy.port(), "getblockhash", &["6"]);
    let real_error = cli(&net, net.bitcoind().rpc_port(), "getblockhash", &["1000"]);
    assert_eq!(mocked_error, real_error);
    assert_eq!(mocked_error.code, 8);

    proxy.mock_result("getblockchaininfo", json!({"chain": "regtest", "blocks": 7, "headers": 9, "initialblockdownload": true}));
    let info = cli(&net, proxy.port(), "getblockchaininfo", &[]);
    assert_eq!(info.stdout, "{\n  \"chain\": \"regtest\",\n  \"blocks\": 7,\n  \"headers\": 9,\n  \"initialblockdownload\": true\n}\n");
    let answers: Vec<Answer> = proxy.calls().into_iter().map(|c| c.answer).collect();
    assert_eq!(
        answers,
        vec![
            Answer::Mock,
            Answer::Bitcoind { error_code: None },
            Answer::MockError { code: -8 },
            Answer::Mock
        ]
    );
}
}

cln_itest::needs_bitcoind! {
#[test]
fn a_mock_may_forward_other_params_or_wait_first() {
    let net = bitcoind_only();
    let proxy = proxy_for(&net);
    proxy.mock("getblockhash", |call| match call.param(0).and_then(Value::as_u64) {
        Some(50) => MockReply::ForwardWith(json!([1])),
        _ => MockReply::delay(Duration::from_millis(200), MockReply::Forward),
    });
    let real_1 = cli(&net, net.bitcoind().rpc_port(), "getblockhash", &["1"]);
    assert_eq!(cli(&net, proxy.port(), "getblockhash", &["50"]), real_1);
    assert_eq!(cli(&net, proxy.port(), "getblockhash", &["1"]), real_1);
    let calls = proxy.calls_to("getblockhash");
    assert_eq!((&calls[0].params, &calls[0].forwarded_params), (&json!([50]), &Some(json!([1]))));
    assert_eq!(calls[1].forwarded_params, None);
}
}

cln_itest::needs_bitcoind! {
#[test]
fn http_failures_show_as_bitcoin_cli_errors() {
    let net = bitcoind_only();
    let proxy = proxy_for(&net);
    proxy.mock("getblockcount", |_| MockReply::close_connection());
    let closed = cli(&net, proxy.port(), "getblockcount", &[]);
    assert_eq!(closed.code, 1, "{closed:?}");
    assert!(
        closed.stderr.starts_with(&format!(
            "error: timeout on transient error: Could not connect to the server 127.0.0.1:{} (error code 1 - \"EOF reached\")",
            proxy.port()
        )),
        "{closed:?}"
    );
    proxy.mock("getblockcount", |_| MockReply::http_500());
    let empty = cli(&net, proxy.port(), "getblockcount", &[]);
    assert_eq!((empty.code, empty.stderr.as_str()), (1, "error: no response from server\n"));
    proxy.mock("getblockcount", |_| MockReply::Fail(HttpFailure::Status(502)));
    let status = cli(&net, proxy.port(), "getblockcount", &[]);
    assert_eq!((status.code, status.stderr.as_str()), (1, "error: server returned HTTP error 502\n"));
    // A JSON-RPC error code's magnitude becomes the exit code, as bcli
    // expects for warm-up (28) and "already in chain" (27).
    proxy.mock("getblockcount", |_| MockReply::error(-28, "Loading block index…"));
    let warmup = cli(&net, proxy.port(), "getblockcount", &[]);
    assert_eq!(
        (warmup.code, warmup.stderr.as_str()),
        (28, "error code: -28\nerror message:\nLoading block index…\n")
    );
}
}

cln_itest::needs_bitcoind! {
#[test]
fn fixed_feerates_appear_in_estimatesmartfee_and_getmempoolinfo() {
    let net = bitcoind_only();
    let proxy = proxy_for(&net);
    // bcli's four calls, with pyln-testing's default rates.
    for (target, mode, feerate) in [
        ("2", "CONSERVATIVE", "0.00060000"),
        ("6", "ECONOMICAL", "0.00044000"),
        ("12", "ECONOMICAL", "0.00030000"),
        ("100", "ECONOMICAL", "0.00015000"),
    ] {
        let run = cli(&net, proxy.port(), "estimatesmartfee", &[target, mode]);
        assert_eq!(run.stdout, format!("{{\n  \"feerate\": {feerate},\n  \"blocks\": {target}\n}}\n"), "{run:?}");
    }
    let mempool = json_out(&cli(&net, proxy.port(), "getmempoolinfo", &[]));
    let real = json_out(&cli(&net, net.bitcoind().rpc_port(), "getmempoolinfo", &[]));
    assert_eq!(mempool, real, "bitcoind's default floor is the default floor");
    assert_eq!(proxy.calls_to("getmempoolinfo")[0].answer, Answer::Feerates);

    proxy.set_feerates(Some(Feerates::per_kw(4000, 3000, 2000, 1000).with_floor(300)));
    let urgent = json_out(&cli(&net, proxy.port(), "estimatesmartfee", &["2", "CONSERVATIVE"]));
    assert_eq!(urgent, json!({"feerate": 0.00016, "blocks": 2}));
    let mempool = cli(&net, proxy.port(), "getmempoolinfo", &[]).stdout;
    assert!(mempool.contains("\"mempoolminfee\": 0.00001200,\n  \"minrelaytxfee\": 0.00001200,"), "{mempool}");
    assert!(mempool.contains("\"loaded\": true"), "the rest is bitcoind's: {mempool}");

    // Invalid params still get bitcoind's own error.
    let bad = cli(&net, proxy.port(), "estimatesmartfee", &["0"]);
    assert_eq!(bad, cli(&net, net.bitcoind().rpc_port(), "estimatesmartfee", &["0"]));
    assert_ne!(bad.code, 0);

    proxy.set_feerates(None);
    let real = cli(&net, proxy.port(), "estimatesmartfee", &["6", "ECONOMICAL"]);
    assert_eq!(real, cli(&net, net.bitcoind().rpc_port(), "estimatesmartfee", &["6", "ECONOMICAL"]));
    assert!(real.stdout.contains("Insufficient data"), "regtest has no estimates: {real:?}");
}
}

cln_itest::needs_bitcoind! {
#[test]
fn every_call_is_recorded_counted_and_can_be_waited_for() {
    let net = bitcoind_only();
    let proxy = Arc::new(proxy_for(&net));
    let waiter = {
        let proxy = proxy.clone();
        std::thread::spawn(move || proxy.wait_for_calls("estimatesmartfee", 4, WAIT))
    };
    // One fee update as bcli v23.05+ does it.
    cli(&net, proxy.port(), "getmempoolinfo", &[]);
    for (target, mode) in [("2", "CONSERVATIVE"), ("6", "ECONOMICAL"), ("12", "ECONOMICAL"), ("100", "ECONOMICAL")] {
        cli(&net, proxy.port(), "estimatesmartfee", &[target, mode]);
    }
    assert_eq!(waiter.join().unwrap().unwrap(), 4);
    assert_eq!(proxy.count("estimatesmartfee"), 4);
    assert_eq!(proxy.count("getmempoolinfo"), 1);
    assert_eq!(proxy.count("getblockhash"), 0);
    let params: Vec<Value> = proxy.calls_to("estimatesmartfee").into_iter().map(|c| c.params).collect();
    assert_eq!(params, vec![json!([2, "CONSERVATIVE"]), json!([6, "ECONOMICAL"]), json!([12, "ECONOMICAL"]), json!([100, "ECONOMICAL"])]);
    let seqs: Vec<u64> = proxy.calls().iter().map(|c| c.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);

    let err = proxy.wait_for_calls("sendrawtransaction", 1, Duration::from_millis(100)).unwrap_err();
    let err = format!("{err:#}");
    assert!(err.contains("`sendrawtransaction`: seen 0"), "{err}");
    assert!(err.contains("estimatesmartfee x4, getmempoolinfo x1"), "{err}");
    assert!(err.contains("estimatesmartfee [100,\"ECONOMICAL\"] -> Feerates"), "{err}");

    proxy.reset_record();
    assert!(proxy.counts().is_empty() && proxy.calls().is_empty());
}
}

cln_itest::needs_bitcoind! {
#[test]
fn batches_and_kept_alive_clients_work_through_it() {
    use cln_itest::bitcoincore_rpc::{Auth, Client, RpcApi};
    let net = bitcoind_only();
    let proxy = proxy_for(&net);
    let b = net.bitcoind();
    // A handler may call bitcoind itself: it runs on a blocking thread.
    let direct = Client::new(
        &format!("http://127.0.0.1:{}", b.rpc_port()),
        Auth::UserPass(b.rpc_user().into(), b.rpc_password().into()),
    )
    .unwrap();
    proxy.mock("getblockchaininfo", move |_| {
        let mut info: Value = direct.call("getblockchaininfo", &[]).unwrap();
        info["blocks"] = json!(4242);
        MockReply::result(info)
    });
    // `-getinfo` sends one batch of four calls.
    let getinfo = Command::new(real_bitcoin_cli())
        .args(["-regtest", "-rpcconnect=127.0.0.1", &format!("-rpcport={}", proxy.port())])
        .arg(format!("-rpcuser={}", b.rpc_user()))
        .arg(format!("-rpcpassword={}", b.rpc_password()))
        .arg("-getinfo")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&getinfo.stdout);
    assert!(getinfo.status.success(), "{getinfo:?}");
    assert!(text.contains("Blocks: 4242"), "{text}");
    assert_eq!(proxy.count("getnetworkinfo"), 1);

    // bitcoincore-rpc keeps its connection alive across calls.
    let client = Client::new(
        &format!("http://127.0.0.1:{}", proxy.port()),
        Auth::UserPass(b.rpc_user().into(), b.rpc_password().into()),
    )
    .unwrap();
    for _ in 0..3 {
        assert_eq!(client.get_block_count().unwrap(), 101);
    }
    assert_eq!(proxy.count("getblockcount"), 3);
    let wrong = Client::new(
        &format!("http://127.0.0.1:{}", proxy.port()),
        Auth::UserPass(b.rpc_user().into(), "wrong".into()),
    )
    .unwrap();
    assert!(wrong.get_block_count().is_err(), "bitcoind still checks the password");
}
}
