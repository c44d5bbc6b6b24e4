//! Drives the built `myplugin` binary over pipes, playing lightningd's side,
//! with a stand-in for the node's RPC socket. Asserts exact JSON.

mod support;

use std::time::Duration;

use rstest::rstest;
use serde_json::{json, Value};
use support::{init_params, Behaviour, PluginProc, StandIn};

fn expected_manifest() -> Value {
    json!({
        "options": [{
            "name": "foo_opt",
            "type": "string",
            "default": "bar",
            "description": "A string echoed back by the myplugin method; set it with \
                            `plugin start ... foo_opt=VALUE` or `--foo_opt=VALUE`.",
        }],
        "rpcmethods": [{
            "name": "myplugin",
            "usage": "[param...]",
            "description": "Returns this node's id (from getinfo), the foo_opt value, \
                            and the params it was called with, exactly as received.",
        }],
        "subscriptions": ["shutdown"],
        "dynamic": true,
        "nonnumericids": true,
    })
}

#[tokio::test]
async fn getmanifest_declares_option_method_and_dynamic() {
    let mut plugin = PluginProc::spawn();
    let reply = plugin
        .request(
            json!(0),
            "getmanifest",
            json!({"allow-deprecated-apis": true}),
        )
        .await;
    assert_eq!(
        reply,
        json!({"jsonrpc": "2.0", "id": 0, "result": expected_manifest()})
    );
}

#[rstest]
#[case::no_params(json!([]))]
#[case::positional(json!(["bar1", "bar2"]))]
#[case::keyword(json!({"foo1": "bar1", "foo2": "bar2"}))]
#[case::nested_and_unicode(json!({"a": [1, {"b": null}], "ü": "✓ ünïcødé", "n": -1.5e10}))]
#[tokio::test]
async fn myplugin_returns_node_id_option_and_params(#[case] params: Value) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin
        .handshake(node.path(), json!({"foo_opt": "BAR"}))
        .await;
    let id = json!("cli:myplugin#4242/cln:myplugin#7");
    let reply = plugin.request(id.clone(), "myplugin", params.clone()).await;
    assert_eq!(
        reply,
        json!({"jsonrpc": "2.0", "id": id, "result": {
            "node_id": node.node_id, "option": {"foo_opt": "BAR"}, "cli_params": params}})
    );
    // Key order is part of the contract.
    let result = &plugin.last_raw[plugin.last_raw.find("\"result\":").unwrap()..];
    let (n, o, c) = (
        result.find("node_id"),
        result.find("option"),
        result.find("cli_params"),
    );
    assert!(n < o && o < c, "key order: {result}");
}

#[tokio::test]
async fn option_defaults_to_bar_when_lightningd_omits_it() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    let reply = plugin.request(json!("x"), "myplugin", json!([])).await;
    assert_eq!(reply["result"]["option"], json!({"foo_opt": "bar"}));
}

#[rstest]
#[case::numeric_v23_style("5", "5")]
#[case::string(
    "\"cli:myplugin#1/cln:myplugin#2\"",
    "\"cli:myplugin#1/cln:myplugin#2\""
)]
#[case::escaped_slash_echoed_as_sent("\"a\\/b\"", "\"a\\/b\"")]
#[case::big_number("123456789012345678901234567890", "123456789012345678901234567890")]
#[tokio::test]
async fn ids_are_echoed_byte_for_byte(#[case] id: &str, #[case] echoed: &str) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    plugin
        .write(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"myplugin","params":[]}}"#) + "\n\n")
        .await;
    plugin.next_reply().await;
    assert!(
        plugin
            .last_raw
            .starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{echoed},"result":"#)),
        "{}",
        plugin.last_raw
    );
}

#[tokio::test]
async fn passthrough_formatting_is_accepted_and_params_echoed_compact() {
    // lightningd forwards the client's bytes as they were, blank lines included.
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    plugin
        .write("{ \"jsonrpc\" : \"2.0\",\n\n \"method\" : \"myplugin\", \"id\" : \"c/cln:myplugin#9\",\n \"params\" :[ \"bar1\" ,\n\n \"bar2\" ] }\n\n")
        .await;
    let reply = plugin.next_reply().await;
    assert_eq!(reply["result"]["cli_params"], json!(["bar1", "bar2"]));
    assert!(
        plugin
            .last_raw
            .ends_with(r#""cli_params":["bar1","bar2"]}}"#),
        "{}",
        plugin.last_raw
    );
}

#[tokio::test]
async fn large_params_round_trip() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    let big = json!({"s": "é".repeat(150_000), "deep": [[[[[[[[[[{"x": "y"}]]]]]]]]]]});
    let reply = plugin.request(json!("big"), "myplugin", big.clone()).await;
    assert_eq!(reply["result"]["cli_params"], big);
}

#[tokio::test]
async fn glued_and_split_writes() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    // getmanifest and init glued in one write, no separator at all.
    let manifest = json!({"jsonrpc": "2.0", "id": 0, "method": "getmanifest", "params": {}});
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "init", "params": init_params(node.path(), json!({}))});
    plugin.write(format!("{manifest}{init}")).await;
    assert_eq!(plugin.next_reply().await["id"], 0);
    assert_eq!(
        plugin.next_reply().await,
        json!({"jsonrpc": "2.0", "id": 1, "result": {}})
    );
    // One request written a byte at a time.
    let call =
        json!({"jsonrpc": "2.0", "id": "split", "method": "myplugin", "params": ["a"]}).to_string();
    for byte in call.bytes() {
        plugin.write([byte]).await;
    }
    plugin.write("\n\n").await;
    assert_eq!(
        plugin.next_reply().await["result"]["cli_params"],
        json!(["a"])
    );
}

#[tokio::test]
async fn unknown_method_gets_32601_and_plugin_keeps_serving() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    let reply = plugin.request(json!("u1"), "frobnicate", json!({})).await;
    assert_eq!(
        reply,
        json!({"jsonrpc": "2.0", "id": "u1", "error": {"code": -32601,
            "message": "Unknown method 'frobnicate': this plugin serves 'myplugin'"}})
    );
    assert_eq!(
        plugin.request(json!("ok"), "myplugin", json!([])).await["id"],
        "ok"
    );
}

#[tokio::test]
async fn a_request_without_method_is_answered_not_dropped() {
    let mut plugin = PluginProc::spawn();
    plugin
        .write("{\"jsonrpc\":\"2.0\",\"id\":\"m\",\"method\":[1],\"params\":[]}\n\n")
        .await;
    assert_eq!(
        plugin.next_reply().await,
        json!({"jsonrpc": "2.0", "id": "m", "error": {"code": -32600,
            "message": "Invalid request: \"method\" is missing or not a string"}})
    );
    assert_eq!(
        plugin.request(json!(1), "getmanifest", json!({})).await["id"],
        1
    );
}

/// A run of garbage is one warning, logged when the run ends (here, at the
/// next request), naming its size and its first piece.
#[tokio::test]
async fn garbage_is_logged_once_per_run_then_serving_goes_on() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    plugin.logs.clear();
    let pieces = [
        "this is not json\n\n",
        "{\"jsonrpc\":\"2.0\",\"method\": oops}\n\n",
        // A raw newline would not end the string (lightningd's tokenizer
        // takes it), so the request after it would be part of it; a bad
        // escape is refused at once.
        "{\"bad escape\":\"string\\x\n\n",
    ];
    for piece in pieces {
        plugin.write(piece).await;
    }
    let reply = plugin
        .request(json!("after"), "myplugin", json!(["still", "here"]))
        .await;
    assert_eq!(reply["result"]["cli_params"], json!(["still", "here"]));
    // The last piece's blank line is whitespace between messages.
    let bytes: usize = pieces.iter().map(|p| p.len()).sum::<usize>() - 2;
    assert_eq!(
        plugin.logs,
        vec![
            json!({"jsonrpc": "2.0", "method": "log", "params": {"level": "warn", "message":
            format!("dropped {bytes} bytes in 4 pieces that could not be answered; \
                     the first: not a JSON object: \"this is not json\\n\\n\"")}})
        ]
    );
}

#[tokio::test]
async fn dead_socket_gives_an_error_reply_and_a_later_call_recovers() {
    let node = StandIn::without_socket();
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    let reply = plugin.request(json!("d1"), "myplugin", json!([])).await;
    let socket = node.socket().display().to_string();
    assert_eq!(reply["id"], "d1");
    assert_eq!(reply["error"]["code"], -32603);
    assert_eq!(reply["error"]["data"], json!({"rpc_socket": socket}));
    let message = reply["error"]["message"].as_str().unwrap();
    let prefix = format!(
        "myplugin could not get the node id: cannot connect to lightningd's RPC socket {socket}: "
    );
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.contains("No such file or directory"), "{message}");
    // The failure was logged where node operators look.
    assert!(plugin
        .logs
        .iter()
        .any(|l| l["params"]["level"] == "warn" && l["params"]["message"] == message));

    // The socket appears (lightningd finished starting): the next call works.
    node.listen(Behaviour::Answer);
    let reply = plugin.request(json!("d2"), "myplugin", json!([])).await;
    assert_eq!(reply["result"]["node_id"], node.node_id);
}

#[rstest]
#[case::hang_up(Behaviour::HangUp, "getinfo over ")]
#[case::rpc_error(Behaviour::Error, "stand-in says no")]
#[tokio::test]
async fn failing_getinfo_gives_an_error_reply(
    #[case] behaviour: Behaviour,
    #[case] expected: &str,
) {
    let node = StandIn::start(behaviour);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    let reply = plugin.request(json!("f"), "myplugin", json!([])).await;
    assert_eq!(reply["error"]["code"], -32603);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(expected), "{message}");
    // Still alive.
    assert_eq!(
        plugin.request(json!("g"), "getmanifest", json!({})).await["id"],
        "g"
    );
}

#[tokio::test]
async fn node_id_is_asked_once_and_cached() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    for i in 0..5 {
        let reply = plugin.request(json!(i), "myplugin", json!([])).await;
        assert_eq!(reply["result"]["node_id"], node.node_id);
    }
    assert_eq!(
        node.getinfo_calls.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn fifty_concurrent_calls_each_get_their_own_params() {
    let node = StandIn::start(Behaviour::AnswerAfter(Duration::from_millis(200)));
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    let mut burst = String::new();
    for i in 0..50 {
        let call = json!({"jsonrpc": "2.0", "id": format!("c#{i}"), "method": "myplugin", "params": {"n": i}});
        burst.push_str(&format!("{call}\n\n"));
    }
    plugin.write(burst).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let reply = plugin.next_reply().await;
        let id = reply["id"].as_str().unwrap().to_owned();
        let n: u64 = id.trim_start_matches("c#").parse().unwrap();
        assert_eq!(
            reply["result"]["cli_params"],
            json!({"n": n}),
            "reply {id} has someone else's params"
        );
        assert!(seen.insert(n), "two replies for {id}");
    }
    assert_eq!(seen.len(), 50);
}

#[tokio::test]
async fn a_slow_getinfo_holds_up_no_other_call() {
    let node = StandIn::start(Behaviour::AnswerAfter(Duration::from_millis(1500)));
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    plugin
        .send(&json!({"jsonrpc": "2.0", "id": "slow", "method": "myplugin", "params": []}))
        .await;
    plugin
        .send(&json!({"jsonrpc": "2.0", "id": "fast", "method": "nosuch", "params": []}))
        .await;
    assert_eq!(plugin.next_reply().await["id"], "fast");
    assert_eq!(plugin.next_reply().await["id"], "slow");
}

#[rstest]
#[case::v23_params(json!({}))]
#[case::v24_params(json!({"shutdown": {}}))]
#[tokio::test]
async fn shutdown_notification_exits_zero(#[case] params: Value) {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    plugin
        .send(&json!({"jsonrpc": "2.0", "method": "shutdown", "params": params}))
        .await;
    assert_eq!(plugin.exit_code().await, Some(0));
}

#[tokio::test]
async fn eof_exits_zero_with_nothing_on_stderr() {
    let mut plugin = PluginProc::spawn();
    plugin.request(json!(0), "getmanifest", json!({})).await;
    plugin.close_stdin();
    assert_eq!(plugin.exit_code().await, Some(0));
    assert_eq!(plugin.stderr().await, "");
}

#[tokio::test]
async fn init_logs_the_options_seen_at_debug() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin
        .handshake(node.path(), json!({"foo_opt": "BAR"}))
        .await;
    let socket = node.socket().display().to_string();
    let expected =
        json!({"level": "debug", "message": format!("init: foo_opt=BAR, rpc socket {socket}")});
    assert!(
        plugin.logs.iter().any(|l| l["params"] == expected),
        "{:?}",
        plugin.logs
    );
}

#[test]
fn stdin_that_is_a_file_works_too() {
    // lightningd always gives pipes; a file exercises the fallback reader.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    let request = json!({"jsonrpc": "2.0", "id": 3, "method": "getmanifest", "params": {}});
    std::fs::write(&input, format!("{request}\n\n")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_myplugin"))
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let reply: Value = serde_json::from_str(stdout.strip_suffix("\n\n").unwrap()).unwrap();
    assert_eq!(
        reply,
        json!({"jsonrpc": "2.0", "id": 3, "result": expected_manifest()})
    );
}
