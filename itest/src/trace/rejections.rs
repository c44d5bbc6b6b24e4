//! The teardown finding for a message of a traced plugin that lightningd
//! rejected, quoting the message from the trace.
//!
//! lightningd rejects a plugin's message in one of two ways (v23.02 to
//! v26.06, `lightningd/plugin.c` and the hook handlers):
//! - it kills the plugin: `plugin-<name>: Killing plugin: <why>` at
//!   UNUSUAL (malformed JSON, a reply without `jsonrpc`, a bad manifest);
//! - it dies: `fatal("Plugin returned an invalid response to the
//!   peer_connected hook: ...")` and the like, a `**BROKEN**` line that
//!   names no plugin.
//!
//! Neither line always quotes the message, and the log never says which
//! message it was. The trace does: a run lightningd killed ends with the
//! last message the plugin sent, and a fatal reply is the last reply any
//! traced plugin sent. The finding quotes the line and that message.

use std::sync::LazyLock;

use regex::Regex;

use super::message::{Direction, PluginTrace, TraceMessage};
use crate::findings::{is_broken, is_plugin_killed, Finding};

/// A `**BROKEN**` line about a plugin's reply (lightningd's `fatal`s on
/// hook replies).
fn is_fatal_reply(line: &str) -> bool {
    static REPLY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)plugin (returned|must|supplied|sent|failed|rejected|gave)|bad response to")
            .expect("valid regex")
    });
    is_broken(line) && REPLY.is_match(line)
}

/// The plugin name in a `Killing plugin` line.
fn killed_name(line: &str) -> Option<&str> {
    static NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"plugin-(.*?): Killing plugin: ").expect("valid regex"));
    NAME.captures(line)?.get(1).map(|m| m.as_str())
}

/// One finding per rejection line in `lines` (a node's whole log) that
/// `allow` (its `allow_log`) does not match and whose message a trace in
/// `traces` holds.
///
/// Every `Killing plugin` line of a plugin, at any level (`plugin stop`
/// logs one too), stands for one run lightningd killed, in order: those
/// are the runs without an end record, so the k-th such line is the k-th
/// such run.
pub(crate) fn findings(lines: &[String], allow: &[Regex], traces: &[PluginTrace]) -> Vec<Finding> {
    let mut kills_seen: Vec<(&str, usize)> = Vec::new();
    let mut findings = Vec::new();
    for line in lines {
        let allowed = allow.iter().any(|a| a.is_match(line));
        let found = if let Some(name) = killed_name(line) {
            let nth = match kills_seen.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    kills_seen.push((name, 1));
                    0
                }
            };
            if allowed || !is_plugin_killed(line) {
                None
            } else {
                traces
                    .iter()
                    .find(|t| t.name() == name)
                    .and_then(|trace| Some((trace.name(), killed_run_message(trace, nth)?)))
            }
        } else if !allowed && is_fatal_reply(line) {
            last_reply(traces)
        } else {
            None
        };
        if let Some((plugin, message)) = found {
            findings.push(Finding::RejectedMessage {
                plugin: plugin.to_string(),
                line: line.to_string(),
                message: message.raw.clone(),
            });
        }
    }
    findings
}

/// The last message the plugin sent in its `nth` killed run (the runs
/// without an end record, in order: a killed relay writes none), or in its
/// last run if there are fewer.
fn killed_run_message(trace: &PluginTrace, nth: usize) -> Option<&TraceMessage> {
    let killed = (0..trace.runs())
        .filter(|run| !trace.run_ended(*run))
        .nth(nth)
        .or_else(|| trace.runs().checked_sub(1))?;
    trace
        .messages()
        .iter()
        .rev()
        .find(|m| m.run == killed && m.direction == Direction::FromPlugin)
}

/// The last reply any traced plugin sent, by time.
fn last_reply(traces: &[PluginTrace]) -> Option<(&str, &TraceMessage)> {
    traces
        .iter()
        .filter_map(|t| {
            let reply = t
                .messages()
                .iter()
                .rev()
                .find(|m| m.direction == Direction::FromPlugin && m.is_reply())?;
            Some((t.name(), reply))
        })
        .max_by_key(|(_, m)| m.time)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::trace::record::{Kind, Record};

    fn trace(name: &str, records: &[(Kind, u64, &str)]) -> PluginTrace {
        let records = records
            .iter()
            .map(|(kind, secs, payload)| Record {
                kind: *kind,
                time: UNIX_EPOCH + Duration::from_secs(*secs),
                payload: payload.as_bytes().to_vec(),
            })
            .collect();
        PluginTrace::from_records(name, Path::new("/t"), records)
    }

    #[test]
    fn a_kill_quotes_the_last_message_of_the_killed_run() {
        let t = trace(
            "p.py",
            &[
                // Run 0: stopped with `plugin stop` (killed, no end).
                (Kind::Start, 1, "{}"),
                (Kind::FromPlugin, 2, r#"{"id":1,"result":"stopped run"}"#),
                // Run 1: exited by itself.
                (Kind::Start, 3, "{}"),
                (Kind::FromPlugin, 4, r#"{"id":1,"result":"ended run"}"#),
                (Kind::End, 5, "{}"),
                // Run 2: killed for its reply.
                (Kind::Start, 6, "{}"),
                (
                    Kind::ToPlugin,
                    7,
                    r#"{"jsonrpc":"2.0","id":7,"method":"m"}"#,
                ),
                (Kind::FromPlugin, 8, r#"{"id":7,"result":"bad"}"#),
            ],
        );
        let lines: Vec<String> = [
            "T INFO    plugin-p.py: Killing plugin: stopped by lightningd via RPC",
            "T UNUSUAL plugin-p.py: Killing plugin: no jsonrpc",
            "T UNUSUAL plugin-q.py: Killing plugin: not traced",
        ]
        .map(String::from)
        .into();
        let found = findings(&lines, &[], std::slice::from_ref(&t));
        assert_eq!(
            found,
            [Finding::RejectedMessage {
                plugin: "p.py".into(),
                line: lines[1].clone(),
                message: r#"{"id":7,"result":"bad"}"#.into(),
            }]
        );
        let allow = [Regex::new("no jsonrpc").unwrap()];
        assert!(findings(&lines, &allow, &[t]).is_empty());
    }

    #[test]
    fn a_fatal_reply_quotes_the_latest_reply_of_any_plugin() {
        let a = trace(
            "a.py",
            &[
                (Kind::Start, 1, "{}"),
                (
                    Kind::FromPlugin,
                    5,
                    r#"{"id":1,"result":{"result":"nope"}}"#,
                ),
            ],
        );
        let b = trace(
            "b.py",
            &[
                (Kind::Start, 1, "{}"),
                (Kind::FromPlugin, 3, r#"{"id":2,"result":{}}"#),
            ],
        );
        let line = "2026-01-01T00:00:00.000Z **BROKEN** lightningd: Plugin returned an invalid response to the peer_connected hook: x".to_string();
        let found = findings(std::slice::from_ref(&line), &[], &[b, a]);
        assert!(
            matches!(&found[..], [Finding::RejectedMessage { plugin, .. }] if plugin == "a.py"),
            "{found:?}"
        );
        let unrelated = "2026-01-01T00:00:00.000Z **BROKEN** lightningd: disk full".to_string();
        assert!(findings(&[unrelated], &[], &[]).is_empty());
    }
}
