//! A node whose startup plugin is not running fails to start, naming the
//! plugin, what lightningd said of it and its stderr; a node or plugin
//! allowed to fail is exempt, and a start expected to fail leaves no
//! directory behind.

mod support;

use std::path::Path;
use std::time::Duration;

use cln_itest::{Conf, Error, Network, NodeConf, PluginConf, StartError};
use support::fixture;
use tempfile::TempDir;

/// Builds a one-node network with `node` in a temp root the test owns
/// (so a directory kept for a failure goes with it), expecting a failure.
fn start_fails(node: NodeConf, timeout: Duration) -> (TempDir, Error) {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::from_nodes([node]);
    conf.tmp_root = Some(root.path().to_path_buf());
    conf.timeout = timeout;
    let err =
        Network::with_conf(&conf).expect_err("a node whose plugin is not running must not start");
    (root, err)
}

fn start_error(err: &Error) -> &StartError {
    err.start_error()
        .unwrap_or_else(|| panic!("not a StartError: {err:#}"))
}

/// The error names the plugin by path and quotes its stderr.
fn assert_names(err: &Error, plugin: &Path, stderr: &str) {
    let start = start_error(err);
    assert_eq!(start.node, "l1");
    assert!(
        start.reason.contains(&plugin.display().to_string()),
        "{err:#}"
    );
    assert!(start.stderr.contains(stderr), "{err:#}");
    let shown = format!("{err:#}");
    assert!(
        shown.contains(stderr) && shown.contains(&plugin.display().to_string()),
        "{shown}"
    );
}

cln_itest::needs_lightningd! {
#[test]
fn a_plugin_that_crashes_at_start_fails_the_start_with_its_path_and_stderr() {
    let plugin = fixture("crashes_at_start.py");
    let (_root, err) = start_fails(NodeConf::default().with_plugin(&plugin, []), Duration::from_secs(60));
    assert_names(&err, &plugin, "boom before getmanifest");
    assert!(start_error(&err).reason.contains("is not running"), "{err:#}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_plugin_that_exits_before_getmanifest_fails_the_start_with_lightningds_verdict() {
    let plugin = fixture("exits_before_getmanifest.sh");
    let (_root, err) = start_fails(NodeConf::default().with_plugin(&plugin, []), Duration::from_secs(60));
    assert_names(&err, &plugin, "nothing to do, leaving");
    let reason = &start_error(&err).reason;
    // lightningd says why where it logs it (v23.02 does not), and the
    // error says which.
    assert!(
        reason.contains("Killing plugin: exited before replying to getmanifest")
            || reason.contains("lightningd logged no reason"),
        "{reason}"
    );
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_plugin_that_never_answers_fails_the_start_naming_it_and_the_step() {
    let plugin = fixture("never_answers.sh");
    // lightningd itself waits 60 or 120 s; the harness's limit comes first.
    let (_root, err) = start_fails(NodeConf::default().with_plugin(&plugin, []), Duration::from_secs(8));
    let reason = &start_error(&err).reason;
    assert!(reason.contains(&plugin.display().to_string()), "{err:#}");
    // The step: what lightningd was still waiting for (or, where its own
    // limit came first, its verdict).
    assert!(reason.contains("getmanifest"), "{err:#}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_plugin_allowed_to_fail_does_not_fail_the_start_nor_the_teardown() {
    let plugin = fixture("crashes_at_start.py");
    let conf = Conf::from_nodes([
        NodeConf::default().with_plugin_conf(PluginConf::new(&plugin).may_fail())
    ]);
    let net = Network::with_conf(&conf).expect("the plugin may fail");
    let listed = net.node(0).plugin_list().unwrap();
    let names: Vec<&str> = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(!names.contains(&plugin.to_str().unwrap()), "{names:?}");
    net.finish().expect("its death is no teardown finding");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_start_expected_to_fail_leaves_the_network_up_and_no_directory_behind() {
    let root = tempfile::tempdir().unwrap();
    let plugin = fixture("crashes_at_start.py");
    let mut conf = Conf::from_nodes([
        NodeConf::default(),
        NodeConf::default().with_plugin(&plugin, []).expect_fail(),
    ]);
    conf.tmp_root = Some(root.path().to_path_buf());
    let net = Network::with_conf(&conf).expect("l2's failure is expected");
    let l2 = net.node(1);
    assert!(!l2.is_running());
    assert!(l2.stderr().unwrap().contains("boom before getmanifest"));
    net.node(0).call("getinfo", serde_json::json!({})).expect("l1 is up");
    net.finish().expect("an expected failure is no finding");
    let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn plugin_start_failures_name_the_plugin_and_quote_its_stderr_and_lightningds_limit() {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::with_nodes(1);
    conf.tmp_root = Some(root.path().to_path_buf());
    // The silent plugin's call gives up at this limit, long before
    // lightningd's own (60 or 120 s).
    conf.timeout = Duration::from_secs(5);
    conf.nodes[0] = NodeConf::default().allow_log("Killing plugin: ");
    let net = Network::with_conf(&conf).expect("one node");
    let l1 = net.node(0);

    let crashing = fixture("crashes_at_start.py");
    let text = format!("{:#}", l1.plugin_start(&crashing, &[]).unwrap_err());
    assert!(text.contains(&format!("plugin {}", crashing.display())), "{text}");
    assert!(text.contains("boom before getmanifest"), "{text}");
    assert!(text.contains("Killing plugin: exited before replying to getmanifest"), "{text}");

    let silent = fixture("never_answers.sh");
    let text = format!("{:#}", l1.plugin_start(&silent, &[]).unwrap_err());
    assert!(text.contains(&format!("plugin {}", silent.display())), "{text}");
    let limit = if l1.version() >= cln_itest::Version::new(25, 2, 0) { "120 s" } else { "60 s" };
    assert!(text.contains(&format!("gives a plugin {limit} to answer")), "{text}");
}
}
