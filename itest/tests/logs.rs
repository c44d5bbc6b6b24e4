//! Log waits on real lightningd: on a node that died or was stopped, from
//! marks and from the start, plain-text patterns, and where a node's
//! cursor starts after each start.

mod support;

use cln_itest::{wait_until, Conf, LogMark, Network, Node, NodeConf, Pattern};
use serde_json::json;

use support::fixture;

/// Waits until `node`'s lightningd has died by itself (without
/// `Node::wait_exit`, which would make the exit expected).
fn wait_died(node: &Node) {
    wait_until(
        "lightningd to exit",
        std::time::Duration::from_secs(30),
        |_| Ok(node.died().map(|_| ())),
    )
    .unwrap();
}

cln_itest::needs_lightningd! {
/// Defect: once lightningd had exited, `wait_for_log` failed at once with
/// "l1 died", even for a line already in the log. An important plugin
/// that dies makes lightningd log why and exit; the wait must find that
/// line after the exit, and fail at once, saying why, for a line that is
/// not there.
#[test]
fn waits_read_the_log_of_a_node_that_died() {
    let mut conf = Conf::with_nodes(1);
    conf.nodes[0] = NodeConf::default()
        .with_option(format!("--important-plugin={}", fixture("dies_on_call.py").display()))
        // It exits non-zero when its important plugin dies, and says why
        // at level BROKEN.
        .may_fail()
        .allow_log("Plugin marked as important, shutting down lightningd");
    let net = Network::with_conf(&conf).expect("starting one node");
    let l1 = net.node(0);
    l1.call("die_on_call", json!({})).expect_err("the plugin dies instead of answering");
    wait_died(l1);
    let line = l1
        .wait_for_log("plugin-dies_on_call.py: Plugin marked as important, shutting down lightningd")
        .expect("the line lightningd logged just before it exited");
    assert!(line.contains("shutting down lightningd"), "{line}");
    let err = l1.wait_for_log("a line that never came").expect_err("nothing more is logged");
    let text = format!("{err:#}");
    assert!(!err.is_timeout(), "it must not wait for the timeout: {text}");
    assert_eq!(err.died().map(|d| d.node.as_str()), Some("l1"), "{text}");
    assert!(text.contains("no line for `a line that never came` in the whole log"), "{text}");
    // Once the exit is expected, the wait says it has exited.
    l1.wait_exit().unwrap();
    let text = format!("{:#}", l1.wait_for_log("never either").unwrap_err());
    let status = l1.exit_status().expect("it exited");
    assert_eq!(status.code(), Some(1), "{status}");
    assert!(text.contains(&format!("l1 has exited ({status})")), "{text}");
}
}

cln_itest::needs_lightningd! {
/// The same without waiting for the exit first: the wait starts while
/// lightningd may still be writing its last lines and must see them.
#[test]
fn a_wait_racing_the_exit_still_sees_the_last_lines() {
    let mut conf = Conf::with_nodes(1);
    conf.nodes[0] = NodeConf::default()
        .with_option(format!("--important-plugin={}", fixture("dies_on_call.py").display()))
        .may_fail()
        .allow_log("Plugin marked as important, shutting down lightningd");
    let net = Network::with_conf(&conf).expect("starting one node");
    let l1 = net.node(0);
    l1.call("die_on_call", json!({})).expect_err("the plugin dies instead of answering");
    l1.wait_for_logs([
        "plugin-dies_on_call.py: Killing plugin: exited during normal operation",
        "Plugin marked as important, shutting down lightningd",
    ])
    .expect("both lines of its last moments");
    // The exit was the point: expected, so the passing test leaves no
    // directory behind.
    l1.wait_exit().unwrap();
}
}

cln_itest::needs_lightningd! {
#[test]
fn waits_read_the_log_of_a_stopped_node() {
    let net = Network::with_conf(&Conf::with_nodes(1)).expect("starting one node");
    let l1 = net.node(0);
    let mark = l1.log_mark();
    l1.call("getinfo", json!({})).unwrap();
    l1.stop().unwrap();
    // Logged while it shut down, before the stop returned.
    let line = l1.wait_for_log_since(&mark, "lightningd: JSON-RPC shutdown").unwrap_or_else(|e| {
        panic!("{e:#}")
    });
    assert!(line.contains("JSON-RPC shutdown"), "{line}");
    let err = l1.wait_for_log("never logged").unwrap_err();
    let text = format!("{err:#}");
    let status = l1.exit_status().expect("it exited");
    assert!(status.success(), "{status}");
    assert!(text.contains(&format!("l1 has exited ({status})")), "{text}");
    assert!(!err.is_timeout(), "{text}");
}
}

cln_itest::needs_lightningd! {
/// pyln-testing starts a node's searches after its `Server started` line;
/// so does itest, after every start, so that a wait never matches a line
/// of start-up or of an earlier run.
#[test]
fn the_cursor_starts_after_each_start_and_marks_reach_back() {
    let net = Network::with_conf(&Conf::with_nodes(1)).expect("starting one node");
    let l1 = net.node(0);
    let started = "Server started with public key";
    let lines = l1.log_lines().unwrap();
    let cursor = l1.log_cursor().line();
    assert!(cursor > 0 && lines[cursor - 1].contains(started), "cursor {cursor}: {lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains(started)).count(), 1);

    let before_restart = l1.log_mark();
    l1.restart().unwrap();
    let lines = l1.log_lines().unwrap();
    let cursor = l1.log_cursor().line();
    assert!(cursor > before_restart.line() && lines[cursor - 1].contains(started));
    assert_eq!(lines.iter().filter(|l| l.contains(started)).count(), 2, "two runs");
    // A mark taken before the restart sees the new run's start-up ...
    let again = l1.wait_for_log_since(&before_restart, started).unwrap();
    assert_eq!(again, lines[cursor - 1]);
    // ... and the start of the log sees the first run's.
    let first = l1.wait_for_log_since(&LogMark::start(), started).unwrap();
    assert_eq!(first, lines[lines.iter().position(|l| l.contains(started)).unwrap()]);
    // Waits from marks moved nothing; setting the cursor does.
    assert_eq!(l1.log_cursor().line(), cursor);
    l1.set_log_cursor(&LogMark::start()).unwrap();
    assert_eq!(l1.wait_for_log(started).unwrap(), first);
    assert_eq!(l1.wait_for_log(started).unwrap(), again);
    let other = net.bitcoind().datadir().join("not-a-node-log");
    let foreign = cln_itest::LogCursor::new(other).position();
    assert!(l1.set_log_cursor(&foreign).is_err());
}
}

cln_itest::needs_lightningd! {
#[test]
fn plain_text_patterns_match_json_in_log_lines() {
    let mut conf = Conf::with_nodes(1);
    conf.nodes[0] = NodeConf::default().with_plugin(
        fixture("misbehave_on_call.py"),
        [],
    );
    let net = Network::with_conf(&conf).expect("starting one node");
    let l1 = net.node(0);
    // No `"`: v23.02 logs it as `\"`.
    let message = "got {id: 42, ok: true} (a+b)";
    l1.call("log_at", json!({"level": "info", "message": message})).unwrap();
    let line = l1.wait_for_log(Pattern::literal(message)).unwrap();
    assert!(line.ends_with(&format!("plugin-misbehave_on_call.py: {message}")), "{line}");
    // As a regex the same text is invalid, and the error says what to use.
    l1.set_log_cursor(&LogMark::start()).unwrap();
    let text = format!("{:#}", l1.wait_for_log(message).unwrap_err());
    assert!(text.contains("for plain text use Pattern::literal"), "{text}");
    // Regexes and plain text mix in one wait.
    l1.call("log_at", json!({"level": "info", "message": "second [x]"})).unwrap();
    let both = l1
        .wait_for_logs_since(&LogMark::start(), [Pattern::regex(r"second \[x\]"), Pattern::literal(message)])
        .unwrap();
    assert!(both[0].ends_with("second [x]") && both[1].ends_with(message), "{both:?}");
}
}
