//! Hostile and broken input over the real pipes: whatever bytes arrive, the
//! plugin keeps answering, answers every request whose id it can read
//! exactly once, and keeps its memory bounded. Each test here reproduces a
//! defect from issue 12 and failed before the protocol layer was rewritten.

mod support;

use std::time::Duration;

use rstest::rstest;
use serde_json::{json, Value};
use support::{call, warm_plugin, Behaviour, PluginProc, StandIn};
use tokio::io::AsyncWriteExt;

/// Garbage that once made the scanner lose the messages after it. Since
/// issue 21 the reader follows lightningd's tokenizer, which reads an
/// unterminated string or an open array on into what follows (README.md,
/// Known limits); garbage that lightningd would refuse never swallows.
#[rstest]
#[case::stray_open_brace("{this is not json\n\n")]
#[case::stray_open_brace_alone("{\n\n")]
#[case::bad_escape("{\"a\":\"oops\\x\n\n")]
#[case::nul_byte("{\"a\":\"oo\0ps\n\n")]
#[case::key_without_value("{\"a\",\"b\"")]
#[case::mismatched_bracket("{\"a\":[[[[}\n\n")]
#[case::close_without_open("}]}\n\n")]
#[tokio::test]
async fn garbage_never_swallows_the_requests_after_it(#[case] garbage: &str) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    plugin
        .write(format!("{garbage}{}{}", call("after1"), call("after2")))
        .await;
    for id in ["after1", "after2"] {
        let reply = plugin.next_reply().await;
        assert_eq!(reply["id"], id, "{reply}");
        assert_eq!(reply["result"]["cli_params"], json!([id]));
    }
    assert!(
        plugin.logs.iter().any(|l| l["params"]["level"] == "warn"),
        "the garbage was not logged: {:?}",
        plugin.logs
    );
}

#[tokio::test]
async fn a_stray_brace_then_many_requests_all_answered() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    plugin.write("{this is not json\n\n").await;
    let mut burst = String::new();
    for i in 0..2000 {
        burst.push_str(&call(&format!("r{i}")));
    }
    plugin.write_in_background(burst);
    // Calls run concurrently: replies may come in any order.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let reply = plugin.next_reply().await;
        let id = reply["id"].as_str().unwrap().to_owned();
        assert_eq!(reply["result"]["cli_params"], json!([id]));
        assert!(seen.insert(id.clone()), "two replies for {id}");
    }
    plugin.join_writer().await;
}

/// A request lightningd (or a client) garbled but whose id can be read gets
/// exactly one `-32700` with that id; the next request is served normally.
#[rstest]
#[case::syntax_error_after_id(
    b"{\"jsonrpc\":\"2.0\",\"id\":\"bad\",\"method\": oops}\n\n".to_vec()
)]
#[case::invalid_utf8_in_string(
    b"{\"jsonrpc\":\"2.0\",\"id\":\"bad\",\"method\":\"myplugin\",\"params\":[\"\xff\"]}\n\n".to_vec()
)]
#[case::raw_control_character(
    b"{\"jsonrpc\":\"2.0\",\"id\":\"bad\",\"method\":\"myplugin\",\"params\":[\"a\tb\"]}\n\n".to_vec()
)]
#[case::truncated_by_a_bad_escape(
    b"{\"jsonrpc\":\"2.0\",\"id\":\"bad\",\"method\":\"myplugin\",\"params\":[\"cut\\q\n\n".to_vec()
)]
#[tokio::test]
async fn unparseable_request_with_readable_id_gets_one_32700(#[case] bytes: Vec<u8>) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    plugin.write(&bytes).await;
    plugin.write(call("good")).await;
    let reply = plugin.next_reply().await;
    assert_eq!(reply["id"], "bad", "{reply}");
    assert_eq!(reply["error"]["code"], -32700, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Parse error: "), "{message}");
    let reply = plugin.next_reply().await;
    assert_eq!(
        reply["id"], "good",
        "a second reply for the bad request? {reply}"
    );
    assert_eq!(reply["result"]["cli_params"], json!(["good"]));
}

#[rstest]
#[case::wrong_version(json!({"jsonrpc": "1.0", "id": "v", "method": "myplugin", "params": []}))]
#[case::missing_version(json!({"id": "v", "method": "myplugin", "params": []}))]
#[case::numeric_version(json!({"jsonrpc": 2.0, "id": "v", "method": "myplugin", "params": []}))]
#[tokio::test]
async fn jsonrpc_version_is_checked(#[case] request: Value) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    plugin.send(&request).await;
    assert_eq!(
        plugin.next_reply().await,
        json!({"jsonrpc": "2.0", "id": "v", "error": {"code": -32600,
            "message": "Invalid request: \"jsonrpc\" must be \"2.0\""}})
    );
}

/// Three calls waiting on a `getinfo` that never answers are all answered
/// with the timeout error, around one shared attempt (not one attempt after
/// the other), and a later call retries.
#[tokio::test]
async fn concurrent_calls_on_a_hung_socket_all_fail_within_the_timeout() {
    let node = StandIn::start(Behaviour::Hang);
    let mut plugin = PluginProc::spawn_with_env(&[("MYPLUGIN_GETINFO_TIMEOUT", "2")]);
    plugin.handshake(node.path(), json!({})).await;
    plugin
        .write(format!("{}{}{}", call("h1"), call("h2"), call("h3")))
        .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = plugin.next_reply().await;
        assert_eq!(reply["error"]["code"], -32603, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains("did not answer within 2 s"), "{message}");
        ids.push(reply["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["h1", "h2", "h3"]);
    let before = node.getinfo_calls.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        before, 1,
        "the three calls did not share one getinfo attempt"
    );
    plugin.write(call("h4")).await;
    assert_eq!(plugin.next_reply().await["error"]["code"], -32603);
    let after = node.getinfo_calls.load(std::sync::atomic::Ordering::SeqCst);
    assert!(after > before, "the later call did not try getinfo again");
}

/// Nobody reads the plugin's stdout: it must stop reading its stdin rather
/// than queue replies without bound. Once stdout is read, every reply comes.
#[tokio::test]
async fn a_reader_that_stops_reading_slows_the_plugin_down_without_memory_growth() {
    const CALLS: usize = 20_000;
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    let baseline = plugin.vm_rss_kib();
    let mut stdin = plugin.take_stdin();
    let fat = "x".repeat(2000);
    let writer = tokio::spawn(async move {
        for i in 0..CALLS {
            let call = json!({"jsonrpc": "2.0", "id": i, "method": "myplugin", "params": [fat]});
            stdin
                .write_all(format!("{call}\n\n").as_bytes())
                .await
                .unwrap();
        }
        stdin
    });
    // 20 000 replies of 2 KB are 40 MB: give the plugin time to read and
    // queue them all, if it would.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let grown = plugin.vm_rss_kib().saturating_sub(baseline);
    assert!(
        !writer.is_finished(),
        "the plugin read all {CALLS} requests while nobody read its replies"
    );
    assert!(grown < 16 * 1024, "memory grew by {grown} KiB");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..CALLS {
        let id = plugin.next_reply().await["id"].as_u64().unwrap();
        assert!(seen.insert(id), "two replies for {id}");
    }
    drop(writer.await.unwrap());
}

/// Calls still waiting for `getinfo` when the plugin is told to stop get an
/// answer before it exits: the shutdown's, not the getinfo timeout's (set
/// to an hour, so waiting for it would hang the test).
#[rstest]
#[case::shutdown_notification(true)]
#[case::stdin_closed(false)]
#[tokio::test]
async fn calls_in_flight_at_shutdown_are_answered(#[case] notification: bool) {
    let node = StandIn::start(Behaviour::Hang);
    let mut plugin = PluginProc::spawn_with_env(&[("MYPLUGIN_GETINFO_TIMEOUT", "3600")]);
    plugin.handshake(node.path(), json!({})).await;
    plugin.write(format!("{}{}", call("s1"), call("s2"))).await;
    if notification {
        plugin
            .send(&json!({"jsonrpc": "2.0", "method": "shutdown", "params": {}}))
            .await;
    } else {
        plugin.close_stdin();
    }
    let mut ids = Vec::new();
    for _ in 0..2 {
        let reply = plugin.next_reply().await;
        assert_eq!(reply["error"]["code"], -32603, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains("shutting down"), "{message}");
        ids.push(reply["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["s1", "s2"]);
    assert_eq!(plugin.exit_code().await, Some(0));
}

#[tokio::test]
async fn an_oversized_message_is_dropped_and_what_follows_is_served() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    // Bigger than the 64 MiB bound on one message, and never closed.
    let mut huge = Vec::with_capacity(65 << 20);
    huge.extend_from_slice(
        b"{\"jsonrpc\":\"2.0\",\"id\":\"huge\",\"method\":\"myplugin\",\"params\":[\"",
    );
    huge.resize(65 << 20, b'x');
    huge.extend_from_slice(b"\"]}\n\n");
    plugin.write(huge).await;
    plugin.write(call("small")).await;
    let reply = plugin.next_reply().await;
    assert_eq!(reply["id"], "huge");
    assert_eq!(reply["error"]["code"], -32600);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("larger than"), "{message}");
    assert_eq!(plugin.next_reply().await["id"], "small");
    let rss = plugin.vm_rss_kib();
    assert!(rss < 200 * 1024, "VmRSS {rss} KiB after a 65 MiB message");
}
