//! The checks that fail a test at teardown although its body passed.
//!
//! A plugin can misbehave without any RPC call failing: lightningd logs a
//! `**BROKEN**` line, kills the plugin for a malformed reply, or crashes
//! later. pyln-testing catches these after each test; so does this module.
//! Everything here is a pure function of what a stopped node left behind
//! (its log lines, its directory, its exit), so it is tested on written
//! files, without daemons.
//!
//! What counts, and where lightningd (v23.02 to v26.06) produces it:
//! - a log line with the level `**BROKEN**` (`lightningd/log.c`);
//! - a `crash.log.<time>` file, written by `log_backtrace_exit` into the
//!   node's network dir (`<lightning-dir>/regtest`) when it dies on a
//!   signal or `fatal()`;
//! - lightningd exiting non-zero, or not exiting after `stop`;
//! - a plugin killed by lightningd: `plugin_kill` logs
//!   `plugin-<name>: Killing plugin: <why>` (`lightningd/plugin.c`), at
//!   level `UNUSUAL` when lightningd judged the plugin broken (malformed
//!   JSON, bad manifest or reply, timeout, unmet hook order).
//!
//! The same line at `INFO` or `DEBUG` is not a finding: `stopped by
//! lightningd via RPC`, `disabled itself`, `Not a dynamic plugin`, and
//! `exited during normal operation`. The last one is also what lightningd
//! logs when `plugin stop` lets a plugin that subscribes to `shutdown` exit
//! by itself, so it cannot tell a crash from a clean stop; a plugin that
//! dies mid-test shows up as the RPC error of whatever called it.
//!
//! pyln-testing's further checks (`contrib/pyln-testing/pyln/testing/
//! fixtures.py`), each a log line lightningd should never write in a test
//! that did not ask for it:
//! - `That's weird: ` anywhere in a line (lightningd's `CI_UNEXPECTED`
//!   prefix, e.g. `Request X took N milliseconds`);
//! - ` WARNING:` (e.g. connectd's `WARNING: funding_created no tx info?`);
//! - bad gossip: a `Bad gossip order:` line, unless the log also has
//!   `Deleting channel` (a node_announcement that arrives after its channel
//!   was deleted is normal); otherwise any `Bad ` after `gossipd` in a line,
//!   except `Bad gossip order from error`;
//! - `Bad reestablish` (dualopend's malformed `channel_reestablish`);
//! - `bad hsm request`;
//! - `Accessing a null column` (a database query reading a NULL);
//! - `Peer has reconnected` (lightningd reattaching a channel to a peer
//!   that came back), where the node was started with `--dev-no-reconnect`
//!   and not allowed to reconnect: without that option lightningd
//!   reconnects by itself, so pyln skips the check there too;
//! - `MEMLEAK:` (lightningd's leak report), and leaks `dev-memleak` lists
//!   at teardown when that was asked for.
//!
//! A node can tolerate some of this (pyln-testing's `broken_log`,
//! `allow_warning`, `allow_bad_gossip`, `may_reconnect`, `may_fail`): see
//! [`Tolerance`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

pub(crate) use crate::daemon::boundary::ExitStatus;
use crate::logs::tails::tail_lines;

/// How many lines of a crash log a finding quotes.
const CRASH_LOG_LINES: usize = 20;

/// What a node may do without failing the test (pyln-testing's
/// `broken_log`, `allow_warning`, `allow_bad_gossip`, `may_reconnect` and
/// `may_fail`).
#[derive(Debug, Clone, Default)]
pub struct Tolerance {
    /// A log line matching any of these regexes is expected: it is no
    /// finding, whichever check it would fail.
    pub allow_log: Vec<Regex>,
    /// The node may crash or exit non-zero: crash logs and its exit status
    /// are not findings. Log lines still are, unless allowed.
    pub may_fail: bool,
    /// ` WARNING:` lines are expected.
    pub allow_warning: bool,
    /// Bad gossip lines are expected.
    pub allow_bad_gossip: bool,
    /// Look for `Peer has reconnected`: true only for a node started with
    /// `--dev-no-reconnect` and not allowed to reconnect.
    pub check_reconnects: bool,
}

/// How a node's lightningd process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited by itself (after `stop`, or earlier), as the daemon
    /// backend reports it.
    Exited(ExitStatus),
    /// It was still running after `stop` and a grace period, and was killed.
    KilledAfterStop,
}

/// One reason a node fails its teardown checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A `**BROKEN**` log line, verbatim.
    Broken(String),
    /// lightningd's `Killing plugin:` line, verbatim.
    PluginKilled(String),
    /// A line pyln-testing's extra checks fail on (see the module docs).
    Line {
        /// What the check is about: `"That's weird"`, `warning`, ...
        check: LineCheck,
        /// The line, verbatim.
        line: String,
    },
    /// Leaks that `dev-memleak` reported at teardown, as it sent them.
    MemLeaks(String),
    /// A crash log and its last lines.
    CrashLog {
        /// The file lightningd wrote.
        path: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// lightningd did not exit cleanly; says how.
    BadExit(String),
    /// The node's log could not be read, so it could not be checked.
    Unreadable(String),
    /// lightningd held a file descriptor it inherited from the test
    /// process (see `node::fds`).
    InheritedFd {
        /// Its number, the same in both processes.
        fd: i32,
        /// What it is open on, as `/proc` names it.
        target: String,
    },
    /// lightningd rejected a message of a traced plugin: its line and the
    /// message, verbatim from the plugin's trace (found by
    /// `trace::rejections`, which builds on this module).
    RejectedMessage {
        /// The plugin's name.
        plugin: String,
        /// lightningd's line.
        line: String,
        /// The message, as the plugin sent it.
        message: String,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Broken(line) => write!(f, "BROKEN log line: {line}"),
            Finding::PluginKilled(line) => write!(f, "plugin killed by lightningd: {line}"),
            Finding::Line { check, line } => write!(f, "{check} log line: {line}"),
            Finding::MemLeaks(leaks) => write!(f, "dev-memleak found leaks: {leaks}"),
            Finding::CrashLog { path, tail } => write!(
                f,
                "crash log {}:\n--- last {CRASH_LOG_LINES} lines ---\n{tail}",
                path.display()
            ),
            Finding::BadExit(how) => write!(f, "lightningd {how}"),
            Finding::Unreadable(why) => write!(f, "log not checked: {why}"),
            Finding::InheritedFd { fd, target } => write!(
                f,
                "lightningd held file descriptor {fd} ({target}), inherited from the test \
                 process, where it was open without close-on-exec when the node started \
                 (open it with O_CLOEXEC or set FD_CLOEXEC; NodeConf::without_fd_check \
                 skips this check)"
            ),
            Finding::RejectedMessage {
                plugin,
                line,
                message,
            } => write!(
                f,
                "lightningd rejected what plugin {plugin} sent: {line}\n  \
                 its message (from the trace, the last it sent before): {message}"
            ),
        }
    }
}

/// The kinds of lines pyln-testing's extra checks look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineCheck {
    /// `That's weird: `.
    Weird,
    /// ` WARNING:`.
    Warning,
    /// Bad gossip.
    BadGossip,
    /// `Bad reestablish`.
    BadReestablish,
    /// `bad hsm request`.
    BadHsmRequest,
    /// `Accessing a null column`.
    NullColumn,
    /// `Peer has reconnected` on a node that may not reconnect.
    Reconnected,
    /// `MEMLEAK:`.
    MemLeak,
}

impl fmt::Display for LineCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineCheck::Weird => "\"That's weird\"",
            LineCheck::Warning => "WARNING (allow with NodeConf::allow_warning)",
            LineCheck::BadGossip => "bad gossip (allow with NodeConf::allow_bad_gossip)",
            LineCheck::BadReestablish => "bad reestablish",
            LineCheck::BadHsmRequest => "bad hsm request",
            LineCheck::NullColumn => "database null column",
            LineCheck::Reconnected => {
                "unexpected reconnection (allow with NodeConf::may_reconnect)"
            }
            LineCheck::MemLeak => "memory leak",
        })
    }
}

/// Everything the checks look at for one node.
#[derive(Debug)]
pub struct Evidence<'a> {
    /// The node's whole log.
    pub log: &'a [String],
    /// Directories where lightningd may have left `crash.log.*`.
    pub dirs: Vec<PathBuf>,
    /// How each of its lightningd processes ended (one per start).
    pub exits: &'a [Exit],
    /// The `leaks` `dev-memleak` returned at teardown, if it was asked and
    /// found any.
    pub leaks: Option<String>,
}

/// All findings for one node, log findings first, in log order.
pub fn check(evidence: &Evidence<'_>, tolerance: &Tolerance) -> Vec<Finding> {
    let mut findings = scan_log(evidence.log, &tolerance.allow_log);
    findings.extend(pyln_line_checks(evidence.log, tolerance));
    findings.extend(evidence.leaks.clone().map(Finding::MemLeaks));
    if !tolerance.may_fail {
        findings.extend(crash_logs(&evidence.dirs));
        findings.extend(evidence.exits.iter().filter_map(exit_finding));
    }
    findings
}

/// pyln-testing's extra line checks (module docs), minus what `tolerance`
/// allows, grouped by check in the order of [`LineCheck`].
pub fn pyln_line_checks(lines: &[String], tolerance: &Tolerance) -> Vec<Finding> {
    let scan = Scan { lines, tolerance };
    let mut findings = scan.found(LineCheck::Weird, |l| l.contains("That's weird: "));
    if !tolerance.allow_warning {
        findings.extend(scan.found(LineCheck::Warning, |l| l.contains(" WARNING:")));
    }
    if !tolerance.allow_bad_gossip {
        findings.extend(bad_gossip(&scan));
    }
    findings.extend(scan.found(LineCheck::BadReestablish, |l| l.contains("Bad reestablish")));
    findings.extend(scan.found(LineCheck::BadHsmRequest, |l| l.contains("bad hsm request")));
    findings.extend(scan.found(LineCheck::NullColumn, |l| {
        l.contains("Accessing a null column")
    }));
    if tolerance.check_reconnects {
        findings.extend(scan.found(LineCheck::Reconnected, |l| {
            l.contains("Peer has reconnected")
        }));
    }
    findings.extend(scan.found(LineCheck::MemLeak, |l| l.contains("MEMLEAK:")));
    findings
}

/// A log and what its node may write.
struct Scan<'a> {
    lines: &'a [String],
    tolerance: &'a Tolerance,
}

impl Scan<'_> {
    /// The lines `test` picks that no `allow_log` regex excuses.
    fn found(&self, check: LineCheck, test: impl Fn(&str) -> bool) -> Vec<Finding> {
        self.lines
            .iter()
            .filter(|l| test(l) && !self.tolerance.allow_log.iter().any(|a| a.is_match(l)))
            .map(|l| Finding::Line {
                check,
                line: l.clone(),
            })
            .collect()
    }

    fn any(&self, test: impl Fn(&str) -> bool) -> bool {
        self.lines.iter().any(|l| test(l))
    }
}

/// pyln-testing's bad gossip rule: `Bad gossip order:` lines fail unless
/// some channel was deleted; without them, any `Bad ` after `gossipd`
/// that is not `Bad gossip order from error` does.
fn bad_gossip(scan: &Scan<'_>) -> Vec<Finding> {
    let order = |l: &str| l.contains("Bad gossip order:");
    if scan.any(order) {
        if scan.any(|l| l.contains("Deleting channel")) {
            return Vec::new();
        }
        return scan.found(LineCheck::BadGossip, order);
    }
    scan.found(LineCheck::BadGossip, gossipd_bad)
}

/// Whether a `Bad ` follows `gossipd` in `line`, other than `Bad gossip
/// order from error` (pyln's `gossipd.*Bad (?!gossip order from error)`;
/// the `regex` crate has no look-ahead).
fn gossipd_bad(line: &str) -> bool {
    let Some(start) = line.find("gossipd") else {
        return false;
    };
    let rest = &line[start..];
    rest.match_indices("Bad ")
        .any(|(i, m)| !rest[i + m.len()..].starts_with("gossip order from error"))
}

/// `**BROKEN**` and plugin-killed lines not matched by `allow`.
pub fn scan_log(lines: &[String], allow: &[Regex]) -> Vec<Finding> {
    lines
        .iter()
        .filter(|line| !allow.iter().any(|a| a.is_match(line)))
        .filter_map(|line| {
            if is_broken(line) {
                Some(Finding::Broken(line.clone()))
            } else if is_plugin_killed(line) {
                Some(Finding::PluginKilled(line.clone()))
            } else {
                None
            }
        })
        .collect()
}

/// Whether lightningd logged `line` at level BROKEN (its second field;
/// a message that merely mentions the word does not count).
pub(crate) fn is_broken(line: &str) -> bool {
    line.split_whitespace().nth(1) == Some("**BROKEN**")
}

/// Whether `line` is lightningd killing a plugin it judged broken; see
/// the module docs.
pub(crate) fn is_plugin_killed(line: &str) -> bool {
    static KILL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\S+\s+UNUSUAL\s+plugin-.*?: Killing plugin: ").expect("valid regex")
    });
    KILL.is_match(line)
}

/// `crash.log*` files in `dirs`, sorted by path, with their last lines.
pub fn crash_logs(dirs: &[PathBuf]) -> Vec<Finding> {
    let mut paths: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("crash.log"))
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| Finding::CrashLog {
            tail: tail_lines(&path, CRASH_LOG_LINES),
            path,
        })
        .collect()
}

/// A finding unless lightningd exited with status 0.
pub fn exit_finding(exit: &Exit) -> Option<Finding> {
    match exit {
        Exit::Exited(status) if status.success() => None,
        Exit::Exited(how) => Some(Finding::BadExit(format!("exited with {how}"))),
        Exit::KilledAfterStop => Some(Finding::BadExit(
            "did not exit after the `stop` RPC and was killed".into(),
        )),
    }
}

/// The failure message for one node's findings.
pub fn report(node: &str, lightning_dir: &Path, findings: &[Finding]) -> String {
    let mut out = format!(
        "{node} failed its teardown checks (lightning-dir {}):",
        lightning_dir.display()
    );
    for f in findings {
        out.push_str(&format!("\n  - {f}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    // Lines as v26.06 and v23.02 write them (same format in both).
    const LOG: &str = "\
2026-11-25T15:00:00.000Z INFO    lightningd: Server started with public key 02ab
2026-11-25T15:00:01.000Z **BROKEN** plugin-guard: something is very wrong
2026-11-25T15:00:01.500Z INFO    plugin-guard: this mentions **BROKEN** but is info
2026-11-25T15:00:02.000Z UNUSUAL plugin-bad.py: Killing plugin: JSON-RPC message does not contain \"jsonrpc\" field
2026-11-25T15:00:03.000Z INFO    plugin-dies.py: Killing plugin: exited during normal operation
2026-11-25T15:00:04.000Z INFO    plugin-mine: Killing plugin: stopped by lightningd via RPC
2026-11-25T15:00:05.000Z INFO    plugin-static: Killing plugin: Not a dynamic plugin
2026-11-25T15:00:06.000Z DEBUG   plugin-mine: Killing plugin: exited during normal operation
2026-11-25T15:00:07.000Z **BROKEN** lightningd: FATAL SIGNAL 6 (version v26.06.6)";

    #[test]
    fn finds_broken_lines_and_plugins_lightningd_killed() {
        let found = scan_log(&lines(LOG), &[]);
        let shown: Vec<String> = found.iter().map(|f| f.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:#?}");
        assert!(shown[0].starts_with("BROKEN log line: ") && shown[0].contains("very wrong"));
        assert!(
            shown[1].starts_with("plugin killed by lightningd: ") && shown[1].contains("bad.py")
        );
        assert!(shown[2].contains("FATAL SIGNAL 6"));
    }

    #[test]
    fn the_allow_list_excuses_matching_lines_only() {
        let allow = [Regex::new("plugin-guard: something").unwrap()];
        let found = scan_log(&lines(LOG), &allow);
        assert_eq!(found.len(), 2);
        assert!(found
            .iter()
            .all(|f| !f.to_string().contains("something is very wrong")));
        let everything = [Regex::new("BROKEN|Killing plugin").unwrap()];
        assert!(scan_log(&lines(LOG), &everything).is_empty());
    }

    #[test]
    fn a_clean_log_has_no_findings() {
        let clean = lines(
            "2026-11-25T15:00:00.000Z INFO    plugin-guard: info level message\n\
             2026-11-25T15:00:00.000Z UNUSUAL lightningd: something unusual but fine",
        );
        assert!(scan_log(&clean, &[]).is_empty());
    }

    #[test]
    fn crash_logs_are_found_with_their_tail() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("regtest");
        std::fs::create_dir(&net).unwrap();
        std::fs::write(net.join("crash.log.20261125150000"), "a\nb\nlast words\n").unwrap();
        std::fs::write(net.join("lightningd.sqlite3"), "").unwrap();
        let found = crash_logs(&[
            dir.path().to_path_buf(),
            net.clone(),
            dir.path().join("nope"),
        ]);
        assert_eq!(found.len(), 1);
        let Finding::CrashLog { path, tail } = &found[0] else {
            panic!("{found:?}")
        };
        assert_eq!(path, &net.join("crash.log.20261125150000"));
        assert!(tail.ends_with("last words"), "{tail}");
    }

    fn exited(raw: i32) -> Exit {
        Exit::Exited(super::ExitStatus::from_std(ExitStatus::from_raw(raw)))
    }

    #[test]
    fn only_a_clean_exit_passes() {
        assert_eq!(exit_finding(&exited(0)), None);
        let code_1 = exit_finding(&exited(1 << 8)).unwrap();
        assert!(code_1.to_string().contains("exit status: 1"), "{code_1}");
        let signal = exit_finding(&exited(libc::SIGABRT)).unwrap();
        assert!(signal.to_string().contains("signal: 6"), "{signal}");
        let hung = exit_finding(&Exit::KilledAfterStop).unwrap();
        assert!(hung.to_string().contains("did not exit"), "{hung}");
    }

    #[test]
    fn may_fail_excuses_the_exit_and_crash_logs_but_not_the_log() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("crash.log.1"), "boom\n").unwrap();
        let log = lines(LOG);
        let evidence = Evidence {
            log: &log,
            dirs: vec![dir.path().to_path_buf()],
            exits: &[exited(0), exited(1 << 8)],
            leaks: None,
        };
        let strict = check(&evidence, &Tolerance::default());
        assert_eq!(strict.len(), 5, "{strict:#?}");
        let lenient = Tolerance {
            may_fail: true,
            ..Tolerance::default()
        };
        let found = check(&evidence, &lenient);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found
            .iter()
            .all(|f| matches!(f, Finding::Broken(_) | Finding::PluginKilled(_))));
    }

    #[test]
    fn the_report_names_the_node_and_every_finding() {
        let text = report(
            "l2",
            Path::new("/tmp/itest-x/l2"),
            &[
                Finding::Broken("t **BROKEN** plugin-guard: bad".into()),
                Finding::BadExit("exited with exit status: 1".into()),
            ],
        );
        assert_eq!(
            text,
            "l2 failed its teardown checks (lightning-dir /tmp/itest-x/l2):\n  \
             - BROKEN log line: t **BROKEN** plugin-guard: bad\n  \
             - lightningd exited with exit status: 1"
        );
    }

    /// Lines as lightningd writes them (the formats of v23.02 to v26.06,
    /// messages from their sources), one per pyln check, plus near misses.
    const PYLN_LOG: &str = "\
2026-11-25T15:00:00.000Z UNUSUAL lightningd: That's weird: Request getinfo took 5123 milliseconds
2026-11-25T15:00:00.100Z UNUSUAL 022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59-connectd: WARNING: funding_created no tx info?
2026-11-25T15:00:00.200Z DEBUG   022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59-gossipd: Bad gossip order: WIRE_CHANNEL_UPDATE before announce 103x1x0/0
2026-11-25T15:00:00.300Z UNUSUAL 022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59-dualopend-chan#1: Bad reestablish msg: WIRE_TX_INIT_RBF 00
2026-11-25T15:00:00.400Z **BROKEN** hsmd: Client: bad hsm request 0042
2026-11-25T15:00:00.500Z UNUSUAL lightningd: Accessing a null column 3/0 in query SELECT id FROM peers
2026-11-25T15:00:00.600Z DEBUG   022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59-chan#1: Peer has reconnected, state CHANNELD_NORMAL: connecting subd
2026-11-25T15:00:00.700Z **BROKEN** lightningd: MEMLEAK: 0x55d0e1c3a2b8
2026-11-25T15:00:00.800Z INFO    plugin-mine: weird, a warning about WARNING without colon
2026-11-25T15:00:00.900Z DEBUG   gossipd: Bad gossip order from error: something";

    fn checks_found(found: &[Finding]) -> Vec<LineCheck> {
        found
            .iter()
            .map(|f| match f {
                Finding::Line { check, .. } => *check,
                other => panic!("not a line finding: {other:?}"),
            })
            .collect()
    }

    fn strict_with_reconnects() -> Tolerance {
        Tolerance {
            check_reconnects: true,
            ..Tolerance::default()
        }
    }

    #[test]
    fn each_pyln_check_finds_its_line_and_nothing_else() {
        let found = pyln_line_checks(&lines(PYLN_LOG), &strict_with_reconnects());
        assert_eq!(
            checks_found(&found),
            [
                LineCheck::Weird,
                LineCheck::Warning,
                LineCheck::BadGossip,
                LineCheck::BadReestablish,
                LineCheck::BadHsmRequest,
                LineCheck::NullColumn,
                LineCheck::Reconnected,
                LineCheck::MemLeak,
            ],
            "{found:#?}"
        );
        let shown = found[6].to_string();
        assert!(
            shown.starts_with(
                "unexpected reconnection (allow with NodeConf::may_reconnect) log line: "
            ) && shown.ends_with("Peer has reconnected, state CHANNELD_NORMAL: connecting subd"),
            "{shown}"
        );
    }

    #[test]
    fn the_allow_flags_excuse_their_check_only() {
        let tolerance = Tolerance {
            allow_warning: true,
            allow_bad_gossip: true,
            check_reconnects: false,
            ..Tolerance::default()
        };
        let found = pyln_line_checks(&lines(PYLN_LOG), &tolerance);
        assert_eq!(
            checks_found(&found),
            [
                LineCheck::Weird,
                LineCheck::BadReestablish,
                LineCheck::BadHsmRequest,
                LineCheck::NullColumn,
                LineCheck::MemLeak,
            ]
        );
        // allow_log (pyln's broken_log) excuses matching lines of any check.
        let tolerance = Tolerance {
            allow_log: vec![Regex::new("took [0-9]+ milliseconds|MEMLEAK").unwrap()],
            ..strict_with_reconnects()
        };
        let found = pyln_line_checks(&lines(PYLN_LOG), &tolerance);
        assert!(!checks_found(&found).contains(&LineCheck::Weird));
        assert!(!checks_found(&found).contains(&LineCheck::MemLeak));
        assert_eq!(found.len(), 6);
    }

    #[test]
    fn bad_gossip_follows_pyln_rules() {
        let order = "2026-11-25T15:00:00.200Z DEBUG   02aa-gossipd: Bad gossip order: WIRE_CHANNEL_UPDATE before announce 103x1x0/0";
        let deleted = "2026-11-25T15:00:01.000Z DEBUG   gossipd: Deleting channel 103x1x0 due to the funding outpoint being spent";
        let other_bad =
            "2026-11-25T15:00:02.000Z DEBUG   02aa-gossipd: Bad signature for channel_update 0102";
        let from_error =
            "2026-11-25T15:00:03.000Z DEBUG   02aa-gossipd: Bad gossip order from error: x";
        let not_gossipd =
            "2026-11-25T15:00:04.000Z DEBUG   lightningd: Bad signature, but not gossipd's";
        let run = |ls: &[&str]| {
            let ls: Vec<String> = ls.iter().map(|l| l.to_string()).collect();
            pyln_line_checks(&ls, &Tolerance::default()).len()
        };
        assert_eq!(run(&[order]), 1);
        // A deleted channel excuses every bad-order line, as in pyln.
        assert_eq!(run(&[order, deleted, other_bad]), 0);
        assert_eq!(run(&[other_bad]), 1);
        assert_eq!(run(&[from_error, not_gossipd]), 0);
        assert!(gossipd_bad(
            "x gossipd: Bad gossip order from error: Bad signature"
        ));
    }

    #[test]
    fn dev_memleak_leaks_are_a_finding_even_on_a_node_that_may_fail() {
        let evidence = Evidence {
            log: &[],
            dirs: vec![],
            exits: &[],
            leaks: Some(
                r#"[{"value": "0x55d0", "label": "lightningd/peer_control.c:123:struct peer"}]"#
                    .into(),
            ),
        };
        let lenient = Tolerance {
            may_fail: true,
            ..Tolerance::default()
        };
        let found = check(&evidence, &lenient);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .to_string()
                .starts_with("dev-memleak found leaks: [{"),
            "{}",
            found[0]
        );
    }
}
