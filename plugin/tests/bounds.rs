//! Issue 21, cases 6-8, over the real pipes: every log line bounded
//! whatever arrives, calls waiting for the shared `getinfo` bounded by the
//! bytes they hold (not by their number), and the `getinfo` attempt's
//! deadline. Each test here failed against the plugin as it was before
//! (commit 901d5d1); the buffers and the reply cap of case 8 are unit tests
//! (`framing/tests.rs`, `node_rpc/socket.rs`). No test times anything: they
//! assert on outcomes, and bound their waits generously.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use rstest::rstest;
use serde_json::{json, Value};
use support::{call, init_params, warm_plugin, Behaviour, PluginProc, StandIn, WAIT};

/// The longest log line the plugin may write (`MAX_LOG_LINE`), in bytes of
/// its message.
const MAX_LOG_LINE: usize = 1000;

const MIB: usize = 1 << 20;

/// Every log line seen so far is within the bound; returns how many there
/// were, so that a test can check it saw the line it provoked.
fn assert_log_lines_bounded(plugin: &PluginProc) -> usize {
    for line in &plugin.logs {
        let message = line["params"]["message"].as_str().expect("a log message");
        assert!(
            message.len() <= MAX_LOG_LINE,
            "a {}-byte log line: {}...",
            message.len(),
            message.get(..200).unwrap_or(message)
        );
    }
    plugin.logs.len()
}

fn error_message(reply: &Value) -> &str {
    reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error reply: {reply}"))
}

/// Case 6: a 1 MiB method name (answered -32601) became a 1 MiB log line.
#[tokio::test]
async fn a_huge_method_name_makes_a_short_log_line() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    let method = "m".repeat(MIB);
    let request = json!({"jsonrpc": "2.0", "id": "huge", "method": method, "params": []});
    plugin.write_in_background(format!("{request}\n\n"));
    let reply = plugin.next_reply().await;
    plugin.join_writer().await;
    assert_eq!(reply["id"], "huge");
    assert_eq!(reply["error"]["code"], -32601, "{reply}");
    assert!(assert_log_lines_bounded(&plugin) > 0, "nothing was logged");
    assert!(error_message(&reply).len() <= MAX_LOG_LINE);
}

/// Case 6: a notification with a 1 MiB topic became a 1 MiB log line.
#[tokio::test]
async fn a_huge_notification_topic_makes_a_short_log_line() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = warm_plugin(&node, &[]).await;
    let topic = "t".repeat(MIB);
    let notification = json!({"jsonrpc": "2.0", "method": topic, "params": {}});
    plugin.write_in_background(format!("{notification}\n\n{}", call("after")));
    let reply = plugin.next_reply().await;
    plugin.join_writer().await;
    assert_eq!(reply["id"], "after", "{reply}");
    assert!(assert_log_lines_bounded(&plugin) > 0, "nothing was logged");
}

/// Case 6: a 1 MiB `foo_opt` (lightningd sends it at init) became a 1 MiB
/// log line; it is still served whole.
#[tokio::test]
async fn a_huge_option_value_makes_a_short_log_line() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    let value = "o".repeat(MIB);
    plugin
        .handshake(node.path(), json!({ "foo_opt": value }))
        .await;
    assert!(assert_log_lines_bounded(&plugin) > 0, "init logged nothing");
    let reply = plugin.request(json!("c"), "myplugin", json!([])).await;
    assert_eq!(reply["result"]["option"]["foo_opt"], value.as_str());
}

/// Case 6: an init value of the wrong type, 1 MiB long, went whole into
/// the log line and the error reply (serde quotes the value).
#[tokio::test]
async fn a_huge_wrongly_typed_init_value_makes_a_short_log_line() {
    let node = StandIn::start(Behaviour::Answer);
    let mut plugin = PluginProc::spawn();
    plugin.request(json!(0), "getmanifest", json!({})).await;
    let mut params = init_params(node.path(), json!({}));
    params["configuration"]["startup"] = json!("s".repeat(MIB));
    let request = json!({"jsonrpc": "2.0", "id": "init", "method": "init", "params": params});
    plugin.write_in_background(format!("{request}\n\n"));
    let reply = plugin.next_reply().await;
    plugin.join_writer().await;
    assert_eq!(reply["id"], "init");
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(assert_log_lines_bounded(&plugin) > 0, "nothing was logged");
    assert!(error_message(&reply).len() <= MAX_LOG_LINE);
}

/// Case 6: a `getinfo` error with a 512 KiB message (under the 1 MiB reply
/// cap) became a 512 KiB log line (and error reply).
#[tokio::test]
async fn a_huge_getinfo_error_makes_a_short_log_line() {
    let node = StandIn::start(Behaviour::ErrorOfLen(MIB / 2));
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    plugin.logs.clear();
    let reply = plugin.request(json!("c"), "myplugin", json!([])).await;
    let message = error_message(&reply);
    assert!(
        message.contains("lightningd answered with error -1"),
        "{}",
        message.get(..200).unwrap_or(message)
    );
    assert!(assert_log_lines_bounded(&plugin) > 0, "nothing was logged");
    assert!(
        message.len() <= MAX_LOG_LINE,
        "a {}-byte error",
        message.len()
    );
}

/// Case 7: 20 000 small calls pipelined into a fresh plugin wait for the
/// one shared `getinfo`; 1 355-7 957 of them were refused with "too many
/// calls waiting (1024)". The bound is on the bytes they hold now, and
/// they all fit, so all are served.
#[tokio::test]
async fn twenty_thousand_small_first_calls_are_all_served() {
    const CALLS: usize = 20_000;
    // Slow enough that the calls pile up behind the first getinfo.
    let node = StandIn::start(Behaviour::AnswerAfter(Duration::from_millis(500)));
    let mut plugin = PluginProc::spawn();
    plugin.handshake(node.path(), json!({})).await;
    let burst: String = (0..CALLS).map(|i| call(&format!("c{i}"))).collect();
    plugin.write_in_background(burst);
    let mut served = std::collections::BTreeSet::new();
    let mut refused = Vec::new();
    for _ in 0..CALLS {
        let reply = plugin.next_reply().await;
        let id = reply["id"].as_str().expect("a string id").to_owned();
        if reply["result"]["node_id"] == node.node_id.as_str() {
            assert_eq!(reply["result"]["cli_params"], json!([id]));
            assert!(served.insert(id), "two replies to one call");
        } else {
            refused.push(reply);
        }
    }
    plugin.join_writer().await;
    assert!(
        refused.is_empty(),
        "{} of {CALLS} calls refused, the first: {}",
        refused.len(),
        refused[0]
    );
    assert_eq!(node.getinfo_calls.load(Ordering::SeqCst), 1);
}

/// Case 8: a call that joined the shared `getinfo` attempt late used to
/// share the attempt's end: when the attempt ran out of time, the late
/// call failed with it, long before its own timeout, although the socket
/// answered the next connection at once. Now the attempt's deadline is
/// everyone's, and a call whose own time is not up when the attempt times
/// out starts the next attempt. Both a call made while the attempt hangs
/// and one made right after another caller's timeout are served.
#[rstest]
#[case::joined_while_the_attempt_hung(false)]
#[case::made_right_after_a_timeout(true)]
#[tokio::test]
async fn a_call_gets_its_own_chance_after_an_attempt_times_out(#[case] after_timeout: bool) {
    let node = StandIn::start(Behaviour::HangFirst(1));
    let mut plugin = PluginProc::spawn_with_env(&[("MYPLUGIN_GETINFO_TIMEOUT", "3")]);
    plugin.handshake(node.path(), json!({})).await;
    plugin.write(call("first")).await;
    // The first attempt is in flight (and hangs).
    let deadline = tokio::time::Instant::now() + WAIT;
    while node.getinfo_calls.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no getinfo");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if after_timeout {
        let reply = plugin.next_reply().await;
        assert_eq!(reply["id"], "first");
        assert!(
            error_message(&reply).contains("did not answer within 3 s"),
            "{reply}"
        );
        plugin.write(call("late")).await;
    } else {
        // Halfway through the first call's time (not a timing assertion:
        // only an earlier start could make the test pass on the old code).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        plugin.write(call("late")).await;
        let reply = plugin.next_reply().await;
        assert_eq!(reply["id"], "first", "{reply}");
        assert!(
            error_message(&reply).contains("did not answer within 3 s"),
            "{reply}"
        );
    }
    let reply = plugin.next_reply().await;
    assert_eq!(reply["id"], "late", "{reply}");
    assert_eq!(reply["result"]["node_id"], node.node_id, "{reply}");
    assert_eq!(node.connections.load(Ordering::SeqCst), 2);
}
