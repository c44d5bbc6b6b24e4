//! What a test reads from a plugin's trace.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use super::record::{Kind, Record};

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From lightningd to the plugin: `getmanifest`, `init`, hook calls,
    /// calls of the plugin's RPC methods, notifications it subscribed to.
    ToPlugin,
    /// From the plugin to lightningd: its replies, and its notifications
    /// (`log`, custom ones).
    FromPlugin,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::ToPlugin => "lightningd -> plugin",
            Direction::FromPlugin => "plugin -> lightningd",
        })
    }
}

/// One JSON-RPC message between lightningd and a traced plugin, exactly as
/// sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TraceMessage {
    /// Its place in the trace (0 for the first message), across runs.
    pub index: usize,
    /// Which run of the plugin sent or got it: 0 for the first start, one
    /// more for each restart (`plugin start` again, the node restarted).
    pub run: usize,
    /// When the relay read it (this machine's clock).
    pub time: SystemTime,
    /// Which way it went.
    pub direction: Direction,
    /// The bytes as sent, without the whitespace between messages.
    pub raw: String,
    /// `raw` parsed, or `None` if it is not JSON (which lightningd
    /// rejects, when the plugin sent it).
    pub json: Option<Value>,
}

impl TraceMessage {
    /// Its `method`: requests and notifications have one, replies not.
    pub fn method(&self) -> Option<&str> {
        self.json.as_ref()?.get("method")?.as_str()
    }

    /// Its `id`: requests and replies have one, notifications not.
    pub fn id(&self) -> Option<&Value> {
        self.json.as_ref()?.get("id")
    }

    /// Its `params` (requests and notifications).
    pub fn params(&self) -> Option<&Value> {
        self.json.as_ref()?.get("params")
    }

    /// Its `result` (a successful reply).
    pub fn result(&self) -> Option<&Value> {
        self.json.as_ref()?.get("result")
    }

    /// Its `error` (a failed reply).
    pub fn error(&self) -> Option<&Value> {
        self.json.as_ref()?.get("error")
    }

    /// A request: a method and an id.
    pub fn is_request(&self) -> bool {
        self.method().is_some() && self.id().is_some()
    }

    /// A notification: a method and no id.
    pub fn is_notification(&self) -> bool {
        self.method().is_some() && self.id().is_none()
    }

    /// A reply: an id and no method.
    pub fn is_reply(&self) -> bool {
        self.method().is_none() && self.id().is_some()
    }
}

impl fmt::Display for TraceMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} ({}): {}", self.index, self.direction, self.raw)
    }
}

/// Everything a traced plugin and lightningd said to each other so far,
/// in the order the relay read it ([`Node::plugin_trace`]).
///
/// [`Node::plugin_trace`]: crate::Node::plugin_trace
#[derive(Debug, Clone)]
pub struct PluginTrace {
    name: String,
    path: PathBuf,
    messages: Vec<TraceMessage>,
    runs: usize,
    /// For each run, whether the plugin exited by itself (the relay wrote
    /// an end record); a run lightningd killed has none.
    ended: Vec<bool>,
}

impl PluginTrace {
    /// The trace of the plugin `name` from the records of its file.
    pub(crate) fn from_records(name: &str, path: &Path, records: Vec<Record>) -> Self {
        let mut trace = Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            messages: Vec::new(),
            runs: 0,
            ended: Vec::new(),
        };
        for record in records {
            let direction = match record.kind {
                Kind::Start => {
                    trace.runs += 1;
                    trace.ended.push(false);
                    continue;
                }
                Kind::End => {
                    if let Some(last) = trace.ended.last_mut() {
                        *last = true;
                    }
                    continue;
                }
                Kind::ToPlugin => Direction::ToPlugin,
                Kind::FromPlugin => Direction::FromPlugin,
            };
            let raw = String::from_utf8_lossy(&record.payload).into_owned();
            trace.messages.push(TraceMessage {
                index: trace.messages.len(),
                run: trace.runs.saturating_sub(1),
                time: record.time,
                direction,
                json: serde_json::from_str(&raw).ok(),
                raw,
            });
        }
        trace
    }

    /// The plugin's name (its file name, as lightningd names it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The trace file, in the node's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every message, in order.
    pub fn messages(&self) -> &[TraceMessage] {
        &self.messages
    }

    /// How many times the plugin was started (through its relay).
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// Whether run `run` ended with the plugin exiting by itself; false
    /// while it runs, and for a run whose relay lightningd killed.
    pub fn run_ended(&self, run: usize) -> bool {
        self.ended.get(run).copied().unwrap_or(false)
    }

    /// lightningd's calls of `method` (a hook, an RPC method of the
    /// plugin, `init`, `getmanifest`), in order.
    pub fn requests<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a TraceMessage> {
        self.messages.iter().filter(move |m| {
            m.direction == Direction::ToPlugin && m.is_request() && m.method() == Some(method)
        })
    }

    /// Calls of the hook `hook` (the same as [`PluginTrace::requests`]:
    /// hooks and RPC methods share one namespace).
    pub fn hook_calls<'a>(&'a self, hook: &'a str) -> impl Iterator<Item = &'a TraceMessage> {
        self.requests(hook)
    }

    /// Notifications named `method`, either way (`log` from the plugin,
    /// subscribed topics to it).
    pub fn notifications<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a TraceMessage> {
        self.messages
            .iter()
            .filter(move |m| m.is_notification() && m.method() == Some(method))
    }

    /// The reply to `request`: the first later message of the same run,
    /// the other way, with its id.
    pub fn reply_to(&self, request: &TraceMessage) -> Option<&TraceMessage> {
        let id = request.id()?;
        self.messages[request.index + 1..].iter().find(|m| {
            m.run == request.run
                && m.direction != request.direction
                && m.is_reply()
                && m.id() == Some(id)
        })
    }

    /// The `result` of the plugin's last reply to `getmanifest`.
    pub fn manifest(&self) -> Option<&Value> {
        let call = self.requests("getmanifest").last()?;
        self.reply_to(call)?.result()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn record(kind: Kind, payload: &str) -> Record {
        Record {
            kind,
            time: UNIX_EPOCH + Duration::from_secs(1),
            payload: payload.as_bytes().to_vec(),
        }
    }

    #[test]
    fn pairs_calls_with_replies_within_a_run() {
        let trace = PluginTrace::from_records(
            "p.py",
            Path::new("/t"),
            vec![
                record(Kind::Start, "{}"),
                record(
                    Kind::ToPlugin,
                    r#"{"jsonrpc":"2.0","id":1,"method":"getmanifest","params":{}}"#,
                ),
                record(
                    Kind::FromPlugin,
                    r#"{"jsonrpc":"2.0","method":"log","params":{"message":"x"}}"#,
                ),
                record(
                    Kind::FromPlugin,
                    r#"{"jsonrpc":"2.0","id":1,"result":{"hooks":["peer_connected"]}}"#,
                ),
                record(
                    Kind::ToPlugin,
                    r#"{"jsonrpc":"2.0","id":"cln:peer_connected#2","method":"peer_connected","params":{}}"#,
                ),
                record(Kind::Start, "{}"),
                record(
                    Kind::FromPlugin,
                    r#"{"jsonrpc":"2.0","id":"cln:peer_connected#2","result":{"result":"continue"}}"#,
                ),
                record(Kind::FromPlugin, "not json"),
            ],
        );
        assert_eq!(trace.runs(), 2);
        assert!(!trace.run_ended(0));
        assert_eq!(trace.messages().len(), 6);
        assert_eq!(trace.manifest().unwrap()["hooks"][0], "peer_connected");
        assert_eq!(trace.notifications("log").count(), 1);
        let call = trace.hook_calls("peer_connected").next().unwrap();
        // The reply came from another run of the plugin: not this call's.
        assert!(trace.reply_to(call).is_none());
        assert!(trace.messages()[5].json.is_none());
        assert_eq!(trace.messages()[5].run, 1);
    }
}
