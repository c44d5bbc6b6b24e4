//! The teardown checks on real lightningd: a test whose body passed still
//! fails when its network shows `**BROKEN**` log lines, a plugin killed by
//! lightningd or lightningd dying, unless the node's configuration allows
//! it. The fixture `misbehave_on_call.py` makes lightningd log a line at any
//! level on request.

mod support;

use cln_itest::{Conf, Network, NodeConf};
use serde_json::json;
use tempfile::TempDir;

use support::fixture;

/// One node running `misbehave_on_call.py`, configured by `node`, in a temp root
/// the test owns, so a kept directory is removed with it.
fn one_node(node: NodeConf) -> (TempDir, Network) {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::with_nodes(1);
    conf.nodes[0] = node.with_plugin(fixture("misbehave_on_call.py"), []);
    conf.tmp_root = Some(root.path().to_path_buf());
    let net = Network::with_conf(&conf).expect("starting one node");
    (root, net)
}

/// Makes l1's lightningd log `message` (plain text, used as a regex) at
/// `level` through the fixture and waits until the line is in its log.
fn log_at(net: &Network, level: &str, message: &str) -> String {
    let l1 = net.node(0);
    l1.call("log_at", json!({"level": level, "message": message}))
        .unwrap();
    l1.wait_for_log(message).unwrap()
}

cln_itest::needs_lightningd! {
#[test]
fn a_broken_line_fails_the_teardown_and_is_shown() {
    let (_root, net) = one_node(NodeConf::default());
    let line = log_at(&net, "broken", "itest: deliberately broken");
    assert!(line.contains("**BROKEN** plugin-misbehave_on_call.py: itest: deliberately broken"), "{line}");
    let dir = net.dir().to_path_buf();
    let err = net.finish().expect_err("a BROKEN line must fail the teardown");
    let text = format!("{err:#}");
    assert!(text.contains(&format!("BROKEN log line: {line}")), "{text}");
    assert!(text.contains(&format!("files kept in {}", dir.display())), "{text}");
    assert!(dir.join("l1").join("log").is_file(), "the directory must be kept");
}
}

cln_itest::needs_lightningd! {
#[test]
fn the_same_line_at_info_level_passes() {
    let (_root, net) = one_node(NodeConf::default());
    let line = log_at(&net, "info", "itest: deliberately broken");
    assert!(line.contains("INFO    plugin-misbehave_on_call.py: itest: deliberately broken"), "{line}");
    let dir = net.dir().to_path_buf();
    net.finish().expect("an INFO line passes the teardown");
    assert!(!dir.exists(), "a passing network's directory is deleted");
}
}

cln_itest::needs_lightningd! {
#[test]
#[should_panic(expected = "**BROKEN** plugin-misbehave_on_call.py: itest: broken at drop")]
fn dropping_the_network_fails_a_passing_test_with_the_line() {
    let (_root, net) = one_node(NodeConf::default());
    log_at(&net, "broken", "itest: broken at drop");
    // The test body ends here; `net` drops and must fail the test.
}
}

cln_itest::needs_lightningd! {
#[test]
fn an_allowed_broken_line_passes() {
    let (_root, net) = one_node(NodeConf::default().allow_log("expected breakage"));
    log_at(&net, "broken", "itest: expected breakage");
    net.finish().expect("the allow-list covers the line");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_plugin_killed_by_lightningd_fails_the_teardown() {
    let (_root, net) = one_node(NodeConf::default());
    let l1 = net.node(0);
    l1.call("reply_garbage", json!({})).expect_err("lightningd kills the plugin");
    let line = l1.wait_for_log("UNUSUAL plugin-misbehave_on_call.py: Killing plugin: ").unwrap();
    let text = format!("{:#}", net.finish().expect_err("a killed plugin must fail the teardown"));
    assert!(text.contains(&format!("plugin killed by lightningd: {line}")), "{text}");
}
}

cln_itest::needs_lightningd! {
#[test]
fn plugins_stopped_on_request_pass() {
    let (_root, net) = one_node(NodeConf::default());
    let l1 = net.node(0);
    l1.plugin_start(fixture("dies_on_call.py"), &[]).unwrap();
    l1.plugin_stop("dies_on_call.py").unwrap();
    l1.plugin_stop("misbehave_on_call.py").unwrap();
    l1.wait_for_logs(["plugin-dies_on_call.py: Killing plugin", "plugin-misbehave_on_call.py: Killing plugin"])
        .unwrap();
    net.finish().expect("stopping plugins is not a finding");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_node_that_died_fails_the_teardown_unless_it_may_fail() {
    for may_fail in [false, true] {
        let node = if may_fail { NodeConf::default().may_fail() } else { NodeConf::default() };
        let (_root, net) = one_node(node);
        let pid = net.node(0).pid().unwrap();
        // SAFETY: plain syscall on a child we own.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let outcome = net.finish();
        if may_fail {
            outcome.expect("may_fail allows a node to die");
        } else {
            let text = format!("{:#}", outcome.expect_err("a killed node fails the teardown"));
            // Natively std's words; in a container, the engine's exit code
            // for SIGKILL (128 + 9).
            assert!(
                text.contains("lightningd exited with signal: 9")
                    || (text.contains("lightningd exited with container") && text.contains("exited with code 137")),
                "{text}"
            );
        }
    }
}
}

/// Whether the lightningd of `conf`'s nodes has developer options
/// (`--dev-no-reconnect`, `dev-memleak`): every release from v23.11 (with
/// `--developer`), and developer builds of older ones. Asked of the binary
/// through the public API, as the harness does, not guessed from the version.
fn has_dev_options(conf: &Conf) -> bool {
    cln_itest::Lightningd::of(conf)
        .expect("reading lightningd --help")
        .has_option("dev-no-reconnect")
}

cln_itest::needs_lightningd! {
/// pyln-testing's `That's weird` and ` WARNING:` checks: a plugin that logs
/// such lines fails the teardown; `allow_warning` excuses the second only.
#[test]
fn weird_and_warning_lines_fail_the_teardown_unless_allowed() {
    for allow_warning in [false, true] {
        let node = if allow_warning { NodeConf::default().allow_warning() } else { NodeConf::default() };
        let (_root, net) = one_node(node);
        let weird = log_at(&net, "info", "That's weird: itest made this up");
        let warning = log_at(&net, "unusual", "WARNING: itest warns");
        let text = format!("{:#}", net.finish().expect_err("a That's weird line always fails"));
        assert!(text.contains(&format!("\"That's weird\" log line: {weird}")), "{text}");
        let warned = text.contains(&format!("WARNING (allow with NodeConf::allow_warning) log line: {warning}"));
        assert_eq!(warned, !allow_warning, "{text}");
    }
}
}

cln_itest::needs_lightningd! {
/// pyln-testing's unexpected-reconnection check. Nodes get
/// `--dev-no-reconnect` unless they `may_reconnect`, so a peer that comes
/// back was connected by the test, and lightningd reattaching the channel
/// (`Peer has reconnected`) fails the teardown. Releases without the
/// option reconnect by themselves, so there (as in pyln) the check is off.
#[test]
fn a_reconnected_channel_fails_the_teardown_unless_the_node_may_reconnect() {
    for may_reconnect in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let mut conf = Conf::with_nodes(2);
        conf.tmp_root = Some(root.path().to_path_buf());
        if may_reconnect {
            conf.nodes = vec![NodeConf::default().may_reconnect(); 2];
        }
        let net = Network::with_conf(&conf).expect("starting two nodes");
        let (l1, l2) = (net.node(0), net.node(1));
        net.fund_channel(l1, l2, 200_000).unwrap();
        let l2_id = l2.id().unwrap();
        l1.call("disconnect", json!({"id": l2_id, "force": true})).unwrap();
        cln_itest::wait_until("l1 to see l2 disconnected", std::time::Duration::from_secs(30), |_| {
            let peers = l1.call("listpeers", json!({"id": l2_id})).unwrap();
            Ok((peers["peers"][0]["connected"] != json!(true)).then_some(()))
        })
        .unwrap();
        net.connect(l1, l2).unwrap();
        let line = l1.wait_for_log("Peer has reconnected, state CHANNELD_NORMAL").unwrap();
        let (dev, version) = (has_dev_options(&conf), l1.version());
        let outcome = net.finish();
        if dev && !may_reconnect {
            let text = format!("{:#}", outcome.expect_err("an unexpected reconnection fails"));
            assert!(text.contains(&format!("unexpected reconnection (allow with NodeConf::may_reconnect) log line: {line}")), "{text}");
        } else {
            if !dev {
                eprintln!("{version}: no --dev-no-reconnect, so reconnections are not checked (as in pyln)");
            }
            outcome.expect("a node that may reconnect, or cannot be stopped from it, passes");
        }
    }
}
}

cln_itest::needs_lightningd! {
/// pyln-testing's leak check, on request: with `check_memleak` lightningd
/// tracks its allocations, so `dev-memleak` works (and teardown runs it;
/// a clean node passes). Provoking a real leak in lightningd is not
/// possible from a test; the finding is unit-tested in `findings.rs`.
#[test]
fn check_memleak_turns_on_leak_tracking_and_a_clean_node_passes() {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::with_nodes(2);
    conf.tmp_root = Some(root.path().to_path_buf());
    conf.nodes[0] = NodeConf::default().check_memleak();
    let net = Network::with_conf(&conf).expect("starting two nodes");
    let (l1, l2) = (net.node(0), net.node(1));
    let dev = has_dev_options(&conf);
    if dev {
        let leaks = l1.call("dev-memleak", json!({})).expect("leak detection is on");
        assert_eq!(leaks["leaks"], json!([]), "{leaks:#}");
        let off = l2.call("dev-memleak", json!({})).expect_err("l2 did not ask for it");
        assert_eq!(off.rpc_message(), Some("Leak detection needs $LIGHTNINGD_DEV_MEMLEAK"), "{off}");
    } else {
        eprintln!("{}: no developer mode, so no dev-memleak (itest says so on stderr)", l1.version());
        l1.call("dev-memleak", json!({})).expect_err("no such command in a release build");
    }
    net.finish().expect("no leaks, no findings");
}
}

cln_itest::needs_lightningd! {
#[test]
fn a_crash_log_fails_the_teardown() {
    // lightningd writes crash.log.* into its network dir when it dies on
    // a fatal signal; where it runs in a container that shares no paths,
    // the harness fetches that dir back when the node stops.
    let (_root, net) = one_node(NodeConf::default());
    let l1 = net.node(0);
    let pid = l1.pid().expect("a lightningd process of this machine");
    // SAFETY: plain syscall on a process the test owns.
    unsafe { libc::kill(pid as i32, libc::SIGSEGV) };
    cln_itest::wait_until("lightningd to die", std::time::Duration::from_secs(30), |_| {
        Ok(l1.died().map(|_| ()))
    })
    .unwrap();
    let failed = format!("{:#}", net.finish().expect_err("a crashed node fails the teardown"));
    assert!(failed.contains("crash.log"), "{failed}");
}
}

cln_itest::needs_lightningd! {
/// pyln-testing's descriptor check: at teardown connectd reports every
/// descriptor it holds (where lightningd has `dev-report-fds`), and a
/// normal network, channel and all, passes. A node that opts out is not
/// asked. Making connectd hold a descriptor it does not own is not
/// possible from a test; its `**BROKEN**` line fails the log checks like
/// any other (`a_broken_line_fails_the_teardown_and_is_shown`).
#[test]
fn a_normal_network_passes_the_fd_checks_and_connectd_reports_its_fds() {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::with_nodes(2);
    conf.tmp_root = Some(root.path().to_path_buf());
    conf.keep_dirs = true;
    conf.nodes[1] = NodeConf::default().without_fd_check();
    let net = Network::line_graph_with_conf(&conf).expect("two nodes and a channel");
    let l1 = net.node(0);
    let reports = l1.call("help", json!({"command": "dev-report-fds"})).is_ok();
    let version = l1.version();
    let logs: Vec<_> = net.nodes().iter().map(|n| n.log_path()).collect();
    net.finish().expect("no leaked descriptors, no findings");
    let reported = |log: &std::path::Path| {
        std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("dev_report_fds: "))
            .count()
    };
    if reports {
        // Twice (see node/fds.rs): the HSM's descriptor, gossipd's, the
        // listener, the peer connection, at least.
        assert!(reported(&logs[0]) >= 8, "{}", logs[0].display());
    } else {
        eprintln!("{version}: no dev-report-fds, so connectd's report is skipped");
        assert_eq!(reported(&logs[0]), 0);
    }
    assert_eq!(reported(&logs[1]), 0, "l2 opted out");
}
}

/// Set in the child copy of this binary that leaks a descriptor.
#[cfg(target_os = "linux")]
const LEAK_CHILD_ENV: &str = "ITEST_FD_LEAK_CHILD";

#[cfg(target_os = "linux")]
cln_itest::needs_native_daemons! {
/// A descriptor the test process leaves open without close-on-exec is
/// inherited by a lightningd started afterwards, and the teardown names
/// it; a node without the check passes. Run in a child copy of this
/// binary, so that no other test's node inherits the descriptor.
#[test]
fn a_descriptor_leaked_to_lightningd_fails_the_teardown() {
    use std::os::unix::io::AsRawFd;
    let name = "a_descriptor_leaked_to_lightningd_fails_the_teardown";
    if std::env::var_os(LEAK_CHILD_ENV).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture"])
            .env(LEAK_CHILD_ENV, "1")
            .output()
            .expect("re-running this test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::from_nodes([NodeConf::default(), NodeConf::default().without_fd_check()]);
    conf.tmp_root = Some(root.path().to_path_buf());
    conf.lightningd_backend = cln_itest::Backend::Native;
    let net = Network::with_conf(&conf).expect("two nodes");
    // After the first nodes: what the process had then is the runner's.
    let leaked = tempfile::NamedTempFile::new_in(root.path()).unwrap();
    let fd = leaked.as_file().as_raw_fd();
    // SAFETY: clears the flags of a descriptor this test owns.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    for node in net.nodes() {
        node.restart().unwrap();
    }
    let lightningd = net.node(0).pid().unwrap();
    let held = std::fs::read_link(format!("/proc/{lightningd}/fd/{fd}")).unwrap();
    assert_eq!(held, leaked.path());
    let failed = format!("{:#}", net.finish().expect_err("a leaked descriptor fails the teardown"));
    let named = format!("file descriptor {fd} ({})", leaked.path().display());
    assert!(failed.contains(&named), "{named} missing from: {failed}");
    assert!(failed.contains("l1 failed its teardown checks"), "{failed}");
    assert_eq!(failed.matches("inherited from the test process").count(), 1, "only l1: {failed}");
}
}
