//! Edge cases against a fake bitcoind (the real one is in
//! `tests/chain_proxy.rs`): framing, batches, failures, shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::*;
use crate::runtime::block_on;

/// A fake bitcoind: echoes each call's method, params, path and auth as
/// its result; `fail` answers error -5 with HTTP 500 (as bitcoind does for
/// JSON-RPC 1.0); `getmempoolinfo` answers bitcoind-like fee fields.
/// Counts the connections it accepted.
struct FakeBitcoind {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

fn fake_bitcoind() -> FakeBitcoind {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    crate::runtime::handle().spawn(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let path = req.uri().path().to_string();
                    let auth = req
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_string());
                    let body = req.into_body().collect().await?.to_bytes();
                    let call: Value = serde_json::from_slice(&body).unwrap();
                    let (status, reply) = match call["method"].as_str() {
                        Some("fail") => (
                            500,
                            json!({"result": null, "error": {"code": -5, "message": "nope"}, "id": call["id"]})
                                .to_string(),
                        ),
                        Some("getmempoolinfo") => (
                            200,
                            format!(
                                r#"{{"result":{{"size":3,"mempoolminfee":0.00001000,"minrelaytxfee":0.00001000,"total_fee":0.00000000}},"error":null,"id":{}}}"#,
                                call["id"]
                            ),
                        ),
                        _ => (
                            200,
                            json!({"result": {"method": call["method"], "params": call["params"], "path": path, "auth": auth}, "error": null, "id": call["id"]})
                                .to_string(),
                        ),
                    };
                    let mut res = Response::new(Full::new(Bytes::from(reply + "\n")));
                    *res.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                    Ok::<_, hyper::Error>(res)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    FakeBitcoind { addr, connections }
}

fn proxy_to(fake: &FakeBitcoind) -> ChainProxy {
    ChainProxy::start(fake.addr.to_string()).unwrap()
}

fn post(addr: SocketAddr, body: &str) -> Result<(u16, String), String> {
    post_to(addr, "/", body)
}

fn post_to(addr: SocketAddr, path: &str, body: &str) -> Result<(u16, String), String> {
    let (path, body) = (path.to_string(), body.to_string());
    block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = Request::post(path)
            .header("authorization", "Basic dTpw")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8(body.to_bytes().to_vec()).unwrap()))
    })
}

fn json_of(reply: &(u16, String)) -> Value {
    serde_json::from_str(&reply.1).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
}

/// Sends `bodies` one after another on one kept-alive connection.
fn post_on_one_connection(addr: SocketAddr, bodies: &[&str]) -> Vec<(u16, String)> {
    let bodies: Vec<String> = bodies.iter().map(|b| b.to_string()).collect();
    block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut out = Vec::new();
        for body in bodies {
            sender.ready().await.unwrap();
            let req = Request::post("/")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            let res = sender.send_request(req).await.unwrap();
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            out.push((status, String::from_utf8(body.to_vec()).unwrap()));
        }
        out
    })
}

const GETBLOCKHASH_V1: &str = r#"{"method":"getblockhash","params":[7],"id":1}"#;
const GETBLOCKHASH_V2: &str = r#"{"method":"getblockhash","params":[7],"id":1,"jsonrpc":"2.0"}"#;

#[test]
fn unmocked_calls_reach_bitcoind_with_path_auth_and_status() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    let reply = post_to(proxy.addr(), "/wallet/w%201", GETBLOCKHASH_V1).unwrap();
    assert_eq!(reply.0, 200);
    let result = &json_of(&reply)["result"];
    assert_eq!(result["params"], json!([7]));
    assert_eq!(result["path"], "/wallet/w%201");
    assert_eq!(result["auth"], "Basic dTpw");
    let fail = post(proxy.addr(), r#"{"method":"fail","params":[],"id":3}"#).unwrap();
    assert_eq!(fail.0, 500, "bitcoind's status is passed on: {fail:?}");
    let calls = proxy.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].answer, Answer::Bitcoind { error_code: None });
    assert_eq!(
        calls[1].answer,
        Answer::Bitcoind {
            error_code: Some(-5)
        }
    );
}

#[test]
fn the_wallet_in_the_path_reaches_the_mock() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    proxy.mock("getblockhash", |call| MockReply::result(json!(call.wallet)));
    let reply = post_to(proxy.addr(), "/wallet/w%201", GETBLOCKHASH_V1).unwrap();
    assert_eq!(json_of(&reply)["result"], "w 1");
}

#[test]
fn mock_results_and_errors_are_shaped_like_bitcoinds() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    proxy.mock_result("getblockhash", json!("00ff"));
    let ok = post(proxy.addr(), GETBLOCKHASH_V1).unwrap();
    assert_eq!(
        ok,
        (
            200,
            "{\"result\":\"00ff\",\"error\":null,\"id\":1}\n".to_string()
        )
    );
    let ok2 = post(proxy.addr(), GETBLOCKHASH_V2).unwrap();
    assert_eq!(
        json_of(&ok2),
        json!({"jsonrpc": "2.0", "result": "00ff", "id": 1})
    );

    proxy.mock("getblockhash", |_| {
        MockReply::error(-8, "Block height out of range")
    });
    let err = post(proxy.addr(), GETBLOCKHASH_V1).unwrap();
    assert_eq!(
        err.0, 500,
        "JSON-RPC 1.0 errors come with HTTP 500, as from bitcoind"
    );
    assert_eq!(
        json_of(&err)["error"],
        json!({"code": -8, "message": "Block height out of range"})
    );
    let err2 = post(proxy.addr(), GETBLOCKHASH_V2).unwrap();
    assert_eq!(err2.0, 200, "JSON-RPC 2.0 errors come with HTTP 200");
    proxy.mock("getblockhash", |_| {
        MockReply::error(-32601, "Method not found")
    });
    assert_eq!(post(proxy.addr(), GETBLOCKHASH_V1).unwrap().0, 404);

    let answers: Vec<Answer> = proxy.calls().into_iter().map(|c| c.answer).collect();
    assert_eq!(
        answers,
        vec![
            Answer::Mock,
            Answer::Mock,
            Answer::MockError { code: -8 },
            Answer::MockError { code: -8 },
            Answer::MockError { code: -32601 }
        ]
    );
}

#[test]
fn raw_results_are_sent_verbatim() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    assert!(MockReply::raw_result("{oops").is_err());
    let reply = MockReply::raw_result(r#"{"feerate":0.00001000}"#).unwrap();
    proxy.mock("getblockhash", move |_| reply.clone());
    let got = post(proxy.addr(), GETBLOCKHASH_V1).unwrap();
    assert!(
        got.1.contains(r#""result":{"feerate":0.00001000}"#),
        "{got:?}"
    );
}

#[test]
fn a_handler_can_forward_some_params_and_change_others() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    proxy.mock("getblockhash", |call| {
        match call.param(0).and_then(Value::as_u64) {
            Some(7) => MockReply::ForwardWith(json!([8])),
            _ => MockReply::Forward,
        }
    });
    let changed = post(proxy.addr(), GETBLOCKHASH_V2).unwrap();
    assert_eq!(json_of(&changed)["result"]["params"], json!([8]));
    let unchanged = post(
        proxy.addr(),
        r#"{"method":"getblockhash","params":[9],"id":1}"#,
    )
    .unwrap();
    assert_eq!(json_of(&unchanged)["result"]["params"], json!([9]));
    let calls = proxy.calls();
    assert_eq!(calls[0].params, json!([7]));
    assert_eq!(calls[0].forwarded_params, Some(json!([8])));
    assert_eq!(calls[1].forwarded_params, None);
}

#[test]
fn a_delayed_reply_comes_after_the_delay() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    let delay = Duration::from_millis(300);
    proxy.mock("getblockhash", move |_| {
        MockReply::delay(delay, MockReply::Forward)
    });
    let reply = post(proxy.addr(), GETBLOCKHASH_V1).unwrap();
    assert_eq!(json_of(&reply)["result"]["params"], json!([7]));
    let call = &proxy.calls()[0];
    // A lower bound only: the reply cannot come before the delay.
    assert!(call.took >= delay, "{call:?}");
    assert_eq!(call.answer, Answer::Bitcoind { error_code: None });
}

#[test]
fn http_failures_fail_the_request() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    proxy.mock("getblockhash", |_| MockReply::close_connection());
    let closed = post(proxy.addr(), GETBLOCKHASH_V1);
    assert!(closed.is_err(), "{closed:?}");
    proxy.mock("getblockhash", |_| {
        MockReply::Fail(HttpFailure::Status(503))
    });
    assert_eq!(
        post(proxy.addr(), GETBLOCKHASH_V1).unwrap(),
        (503, String::new())
    );
    let answers: Vec<Answer> = proxy.calls().into_iter().map(|c| c.answer).collect();
    assert_eq!(
        answers,
        vec![
            Answer::HttpFailure(HttpFailure::CloseConnection),
            Answer::HttpFailure(HttpFailure::Status(503))
        ]
    );
}

#[test]
fn a_batch_is_answered_call_by_call_in_order() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    proxy.mock_result("getblockcount", json!(42));
    let batch = r#"[{"method":"getblockhash","params":[1],"id":"a","jsonrpc":"2.0"},
                    {"method":"getblockcount","id":"b","jsonrpc":"2.0"},
                    {"method":"getblockcount","jsonrpc":"2.0"},
                    {"method":"fail","id":"c"}]"#;
    let reply = post(proxy.addr(), batch).unwrap();
    assert_eq!(reply.0, 200);
    let replies = json_of(&reply);
    let replies = replies.as_array().unwrap();
    assert_eq!(
        replies.len(),
        3,
        "the notification gets no reply: {replies:?}"
    );
    assert_eq!(
        (&replies[0]["id"], &replies[0]["result"]["params"]),
        (&json!("a"), &json!([1]))
    );
    assert_eq!(
        (&replies[1]["id"], &replies[1]["result"]),
        (&json!("b"), &json!(42))
    );
    assert_eq!(
        (&replies[2]["id"], &replies[2]["error"]["code"]),
        (&json!("c"), &json!(-5))
    );
    assert_eq!(proxy.count("getblockcount"), 2);
    assert_eq!(proxy.count("getblockhash"), 1);

    proxy.mock("getblockhash", |_| MockReply::close_connection());
    assert!(
        post(proxy.addr(), batch).is_err(),
        "one failing call fails the batch"
    );
}

#[test]
fn an_unreachable_bitcoind_closes_the_connection_and_is_recorded() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = ChainProxy::start(format!("127.0.0.1:{port}")).unwrap();
    assert!(post(proxy.addr(), GETBLOCKHASH_V1).is_err());
    match &proxy.calls()[0].answer {
        Answer::Unreachable(why) => assert!(why.contains("connecting to bitcoind"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_panicking_handler_answers_an_rpc_error_naming_the_panic() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    proxy.mock("getblockhash", |_| panic!("boom in the mock"));
    let reply = post(proxy.addr(), GETBLOCKHASH_V1).unwrap();
    let error = &json_of(&reply)["error"];
    assert_eq!(error["code"], -32603);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("boom in the mock"),
        "{error}"
    );
    assert_eq!(
        proxy.calls()[0].answer,
        Answer::MockPanicked("boom in the mock".into())
    );
}

#[test]
fn unmock_and_clear_mocks_let_calls_through_again() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    proxy.mock_result("getblockhash", json!("x"));
    proxy.mock_result("getblockcount", json!(1));
    assert!(proxy.unmock("getblockhash"));
    assert!(!proxy.unmock("getblockhash"));
    assert_eq!(
        json_of(&post(proxy.addr(), GETBLOCKHASH_V1).unwrap())["result"]["params"],
        json!([7])
    );
    proxy.clear_mocks();
    let count = post(proxy.addr(), r#"{"method":"getblockcount","id":1}"#).unwrap();
    assert_eq!(json_of(&count)["result"]["method"], "getblockcount");
}

#[test]
fn client_connections_are_kept_alive_and_bitcoind_connections_reused() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    let replies = post_on_one_connection(
        proxy.addr(),
        &[GETBLOCKHASH_V1, GETBLOCKHASH_V1, GETBLOCKHASH_V1],
    );
    assert!(replies.iter().all(|r| r.0 == 200), "{replies:?}");
    assert_eq!(
        fake.connections.load(Ordering::SeqCst),
        1,
        "one upstream connection for three calls"
    );
}

#[test]
fn fixed_feerates_answer_fee_calls_and_can_be_turned_off() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    assert_eq!(proxy.feerates(), Some(Feerates::default()));
    let est = r#"{"method":"estimatesmartfee","params":[6,"ECONOMICAL"],"id":1}"#;
    let reply = post(proxy.addr(), est).unwrap();
    assert_eq!(
        reply.1,
        "{\"result\":{\"feerate\":0.00044000,\"blocks\":6},\"error\":null,\"id\":1}\n"
    );
    let mempool = post(proxy.addr(), r#"{"method":"getmempoolinfo","id":2}"#).unwrap();
    assert_eq!(
        mempool.1,
        "{\"result\":{\"size\":3,\"mempoolminfee\":0.00001000,\"minrelaytxfee\":0.00001000,\"total_fee\":0.00000000},\"error\":null,\"id\":2}\n"
    );
    proxy.set_feerates(Some(Feerates::uniform(1_000).with_floor(500)));
    let mempool = post(proxy.addr(), r#"{"method":"getmempoolinfo","id":2}"#).unwrap();
    assert!(
        mempool
            .1
            .contains(r#""mempoolminfee":0.00002000,"minrelaytxfee":0.00002000"#),
        "{mempool:?}"
    );
    assert!(post(proxy.addr(), est).unwrap().1.contains("0.00004000"));

    proxy.set_feerates(None);
    let real = post(proxy.addr(), est).unwrap();
    assert_eq!(
        json_of(&real)["result"]["method"],
        "estimatesmartfee",
        "forwarded: {real:?}"
    );
    let answers: Vec<Answer> = proxy.calls().into_iter().map(|c| c.answer).collect();
    assert_eq!(
        answers[..4],
        [
            Answer::Feerates,
            Answer::Feerates,
            Answer::Feerates,
            Answer::Feerates
        ]
    );
    assert_eq!(answers[4], Answer::Bitcoind { error_code: None });
}

#[test]
fn a_mock_overrides_the_feerates_and_forward_falls_back_to_them() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    proxy.mock("estimatesmartfee", |call| {
        match call.param(0).and_then(Value::as_u64) {
            Some(2) => MockReply::error(-1, "no estimate"),
            _ => MockReply::Forward,
        }
    });
    let two = post(
        proxy.addr(),
        r#"{"method":"estimatesmartfee","params":[2,"CONSERVATIVE"],"id":1}"#,
    )
    .unwrap();
    assert_eq!(json_of(&two)["error"]["code"], -1);
    let twelve = post(
        proxy.addr(),
        r#"{"method":"estimatesmartfee","params":[12,"ECONOMICAL"],"id":1}"#,
    )
    .unwrap();
    assert_eq!(json_of(&twelve)["result"]["feerate"], json!(0.0003));
}

#[test]
fn bodies_that_are_not_calls_are_forwarded_untouched() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    let reply = post(
        proxy.addr(),
        r#"{"method":"getblockhash","params":[1],"id":1,"x":1}"#,
    )
    .unwrap();
    assert_eq!(json_of(&reply)["result"]["params"], json!([1]));
    assert_eq!(proxy.count("getblockhash"), 1);
    // Not an object with a string method: no call recorded.
    let _ = post(proxy.addr(), r#"{"method":5,"id":1}"#);
    assert_eq!(proxy.calls().len(), 1);
}

#[test]
fn dropping_the_proxy_closes_its_port() {
    let fake = fake_bitcoind();
    let proxy = proxy_to(&fake);
    let addr = proxy.addr();
    assert!(post(addr, GETBLOCKHASH_V1).is_ok());
    drop(proxy);
    let err = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn it_can_listen_on_another_address() {
    let fake = fake_bitcoind();
    let mut conf = ProxyConf::new(fake.addr.to_string());
    conf.bind = "0.0.0.0".parse().unwrap();
    let proxy = ChainProxy::with_conf(conf).unwrap();
    assert!(proxy.addr().ip().is_unspecified());
    let local = SocketAddr::from(([127, 0, 0, 1], proxy.port()));
    assert_eq!(post(local, GETBLOCKHASH_V1).unwrap().0, 200);
}

#[test]
fn counts_stay_exact_beyond_the_record_limit() {
    let fake = fake_bitcoind();
    let mut conf = ProxyConf::new(fake.addr.to_string());
    conf.record_limit = 2;
    let proxy = ChainProxy::with_conf(conf).unwrap();
    proxy.mock_result("getblockcount", json!(1));
    for _ in 0..5 {
        post(proxy.addr(), r#"{"method":"getblockcount","id":1}"#).unwrap();
    }
    assert_eq!(proxy.count("getblockcount"), 5);
    assert_eq!(proxy.calls().len(), 2);
    assert_eq!(
        proxy
            .wait_for_calls("getblockcount", 5, Duration::ZERO)
            .unwrap(),
        5
    );
    let err = proxy
        .wait_for_calls("getblockcount", 6, Duration::from_millis(10))
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("seen 5") && err.contains("getblockcount x5"),
        "{err}"
    );
}
