//! The JSON-RPC 2.0 messages exchanged with lightningd, in both directions.
//!
//! Two details of CLN's protocol shape these types:
//! - lightningd matches a response to its request by the *raw text* of `id`,
//!   so ids are kept as raw JSON (`RawValue`) and echoed byte for byte: a
//!   number stays a number (v23.02 before `nonnumericids`), a string keeps its
//!   exact escaping (later versions use ids like `"cli:myplugin#42/cln:myplugin#7"`).
//!   Ids of other types (`true`, arrays, objects) are not answered at all;
//!   see [`Incoming::parse`] and README.md, "JSON-RPC to the letter".
//! - passthrough params are the client's own bytes; they are kept raw (no
//!   float rounding, no reordered keys) and only compacted.
//!
//! Every request whose id can be read gets exactly one reply, so a message
//! that cannot be served is turned into a [`Rejected`] that says whom to
//! answer and with what.

use serde::de::IgnoredAny;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::framing::Message;
use super::lightningd_json::Field;
use super::preview::preview;

/// A message lightningd sent us.
#[derive(Debug)]
pub enum Incoming {
    /// Has an `id`: lightningd waits for exactly one response with that id.
    Request {
        /// The id as sent (a string or a number), echoed byte for byte.
        id: Box<RawValue>,
        /// The method, its escapes decoded.
        method: String,
        /// An array or an object, compacted.
        params: Box<RawValue>,
    },
    /// No `id`: nothing may be answered.
    Notification {
        /// The method (the topic), its escapes decoded.
        method: String,
        /// An array or an object, compacted.
        params: Box<RawValue>,
    },
}

/// A message that cannot be served.
#[derive(Debug)]
pub enum Rejected {
    /// Its id could be read: answer it with this error.
    Answer {
        /// Whom to answer.
        id: Box<RawValue>,
        /// With what.
        error: ErrorObject,
    },
    /// No id to answer: log it and move on.
    Drop {
        /// Why it cannot be served, for the log.
        reason: String,
    },
}

/// JSON-RPC error codes the protocol layer answers with.
pub mod codes {
    /// Standard JSON-RPC: the message is not valid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Standard JSON-RPC: the message is JSON but not a valid request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Standard JSON-RPC: the method is not one of ours.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Standard JSON-RPC: the params do not fit the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Standard JSON-RPC: the work could not be done.
    pub const INTERNAL_ERROR: i64 = -32603;
}

impl Incoming {
    /// Reads one message. Its members are the ones lightningd reads (the
    /// first whose raw key is `id`, `method`, `params`, `jsonrpc`; see
    /// `lightningd_json.rs`). A message that is not strict JSON (RFC 8259)
    /// is answered with -32700, whoever wrote it and wherever its id sits:
    /// lightningd's tokenizer accepts params such as `[-Infinity]` or
    /// `[1,,2]` and forwards them, and waits for our reply; we cannot read
    /// them, and JSON-RPC's code for "invalid JSON was received" is -32700.
    /// Absent params are treated as no parameters (`[]`), as JSON-RPC 2.0
    /// allows.
    pub fn parse(message: &Message) -> Result<Self, Rejected> {
        let id_raw = message.member(Field::Id);
        let text = std::str::from_utf8(&message.bytes)
            .map_err(|err| Rejected::parse_error(id_raw, &format!("not UTF-8: {err}")))?;
        serde_json::from_str::<IgnoredAny>(text).map_err(|err| {
            Rejected::parse_error(id_raw, &format!("not valid JSON (RFC 8259): {err}"))
        })?;
        // Valid JSON: every member's raw text is a JSON value of its own.
        let member = |field| {
            let raw = std::str::from_utf8(message.member(field)?).ok()?;
            serde_json::from_str::<&RawValue>(raw).ok()
        };
        let id = match member(Field::Id).map(|raw| (raw, Id::check(raw.get().as_bytes()))) {
            None | Some((_, Id::Null)) => None,
            Some((raw, Id::Usable)) => Some(raw.to_owned()),
            Some((raw, Id::Unusable(why))) => {
                return Err(Rejected::Drop {
                    reason: format!("{why}: {}", preview(raw.get().as_bytes())),
                })
            }
        };
        let reject = |reason: &str| match &id {
            Some(id) => Rejected::answer(id.clone(), codes::INVALID_REQUEST, reason),
            None => Rejected::Drop {
                reason: format!("notification: {reason}"),
            },
        };
        if !member(Field::Jsonrpc).is_some_and(is_version_2) {
            return Err(reject("Invalid request: \"jsonrpc\" must be \"2.0\""));
        }
        let Some(method) =
            member(Field::Method).and_then(|m| serde_json::from_str::<String>(m.get()).ok())
        else {
            return Err(reject(
                "Invalid request: \"method\" is missing or not a string",
            ));
        };
        let params = match member(Field::Params) {
            Some(raw) if raw.get().starts_with(['[', '{']) => compact(raw),
            Some(_) => {
                return Err(reject(
                    "Invalid request: \"params\" must be an array or an object",
                ))
            }
            None => RawValue::from_string("[]".to_owned()).expect("valid JSON"),
        };
        Ok(match id {
            Some(id) => Incoming::Request { id, method, params },
            None => Incoming::Notification { method, params },
        })
    }
}

/// Whether the `jsonrpc` member is the string `2.0`, however escaped
/// (`"2\u002e0"` is that string too).
fn is_version_2(raw: &RawValue) -> bool {
    raw.get() == "\"2.0\"" || serde_json::from_str::<String>(raw.get()).is_ok_and(|v| v == "2.0")
}

/// What an `id` member's value allows.
enum Id {
    /// A string or a number: echoed byte for byte.
    Usable,
    /// `null`: JSON-RPC's "no id"; nothing to answer.
    Null,
    /// Anything else: JSON-RPC 2.0 allows only strings, numbers and null,
    /// and lightningd sends only strings and numbers, so a reply to it
    /// would go to an id nobody sent.
    Unusable(&'static str),
}

impl Id {
    /// Classifies the raw text of a syntactically checked value.
    fn check(raw: &[u8]) -> Self {
        match raw.first() {
            Some(b'"' | b'-' | b'0'..=b'9') => Id::Usable,
            Some(b'n') => Id::Null,
            _ => Id::Unusable("the id is neither a string nor a number"),
        }
    }
}

/// The id to answer, from the raw text of an id the framer saw whole.
fn usable_id(raw: Option<&[u8]>) -> Result<Box<RawValue>, &'static str> {
    let raw = raw.ok_or("no readable id")?;
    match Id::check(raw) {
        Id::Usable => {}
        Id::Null => return Err("the id is null"),
        Id::Unusable(why) => return Err(why),
    }
    // The checker does not look inside strings (UTF-8, surrogates).
    serde_json::from_slice::<Box<RawValue>>(raw).map_err(|_| "the id is not valid JSON")
}

impl Rejected {
    fn answer(id: Box<RawValue>, code: i64, message: impl Into<String>) -> Self {
        Rejected::Answer {
            id,
            error: ErrorObject {
                code,
                message: message.into(),
                data: None,
            },
        }
    }

    /// Bytes that are not valid JSON: `-32700` to whoever sent them, if
    /// their top-level id (`id`, its raw text) was whole before the bad
    /// byte.
    pub fn parse_error(id: Option<&[u8]>, why: &str) -> Self {
        match usable_id(id) {
            Ok(id) => Rejected::answer(id, codes::PARSE_ERROR, format!("Parse error: {why}")),
            Err(no_id) => Rejected::Drop {
                reason: format!("not valid JSON, {no_id} ({why})"),
            },
        }
    }

    /// A message over the size limit, with its id if it was whole.
    pub fn oversized(id: Option<&[u8]>, limit: usize) -> Self {
        let why = format!("Invalid request: message larger than {limit} bytes");
        match usable_id(id) {
            Ok(id) => Rejected::answer(id, codes::INVALID_REQUEST, why),
            Err(no_id) => Rejected::Drop {
                reason: format!("{why}, {no_id}"),
            },
        }
    }
}

/// Removes whitespace between JSON tokens, keeping every token's text as is.
/// Passthrough params can hold the client's newlines; our replies must stay
/// one compact line of JSON so that `\n\n` really ends each message.
pub fn compact(raw: &RawValue) -> Box<RawValue> {
    let text = raw.get();
    if !text.bytes().any(|b| b.is_ascii_whitespace()) {
        return raw.to_owned();
    }
    let mut out = Vec::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b.is_ascii_whitespace() {
            continue;
        } else if b == b'"' {
            in_string = true;
        }
        out.push(b);
    }
    let compacted =
        String::from_utf8(out).expect("only ASCII whitespace was removed from valid UTF-8");
    RawValue::from_string(compacted).expect("removing whitespace between tokens keeps JSON valid")
}

/// Levels lightningd accepts in a `log` notification on every version we
/// support (v23.02 has no `trace`; an unknown level gets the plugin killed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Shown with `--log-level=debug`.
    Debug,
    /// Shown by default.
    Info,
    /// Something went wrong, but we carry on.
    Warn,
    /// Something failed.
    Error,
}

/// The `error` member of a JSON-RPC error response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorObject {
    /// A JSON-RPC error code (see [`codes`]) or the plugin's own.
    pub code: i64,
    /// What went wrong, for a person.
    pub message: String,
    /// Anything that helps, for a program.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A message we send to lightningd.
#[derive(Debug)]
pub enum Outgoing {
    /// A request's result.
    Response {
        /// The request's id, as it was sent.
        id: Box<RawValue>,
        /// The result, as raw JSON.
        result: Box<RawValue>,
    },
    /// A request's error.
    Error {
        /// The request's id, as it was sent.
        id: Box<RawValue>,
        /// What went wrong.
        error: ErrorObject,
    },
    /// A `log` notification.
    Log {
        /// How severe.
        level: Level,
        /// The line for the node's log.
        message: String,
    },
}

impl Outgoing {
    /// Appends the compact JSON text of the message to `out`, without the
    /// `\n\n` separator. The raw `id` and `result` go out exactly as they are.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Outgoing::Response { id, result } => {
                out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
                out.extend_from_slice(id.get().as_bytes());
                out.extend_from_slice(br#","result":"#);
                out.extend_from_slice(result.get().as_bytes());
            }
            Outgoing::Error { id, error } => {
                out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
                out.extend_from_slice(id.get().as_bytes());
                out.extend_from_slice(br#","error":"#);
                serde_json::to_writer(&mut *out, error).expect("plain JSON data");
            }
            Outgoing::Log { level, message } => {
                out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"log","params":"#);
                let params = LogParams {
                    level: *level,
                    message,
                };
                serde_json::to_writer(&mut *out, &params).expect("plain JSON data");
            }
        }
        out.push(b'}');
    }

    /// The compact JSON text of the message.
    pub fn to_json(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }
}

#[derive(Serialize)]
struct LogParams<'a> {
    level: Level,
    message: &'a str,
}

#[cfg(test)]
mod tests;
