//! The JSON-RPC 2.0 messages exchanged with lightningd, in both directions.
//!
//! Two details of CLN's protocol shape these types:
//! - lightningd matches a response to its request by the *raw text* of `id`,
//!   so ids are kept as raw JSON (`RawValue`) and echoed byte for byte: a
//!   number stays a number (v23.02 before `nonnumericids`), a string keeps its
//!   exact escaping (later versions use ids like `"cli:myplugin#42/cln:myplugin#7"`).
//!   Only an id holding raw newlines is compacted, since a reply must stay on
//!   one line.
//! - passthrough params are the client's own bytes; they are kept raw (no
//!   float rounding, no reordered keys) and only compacted.
//!
//! Every request whose id can be read gets exactly one reply, so a message
//! that cannot be served is turned into a [`Rejected`] that says whom to
//! answer and with what.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// A message lightningd sent us.
#[derive(Debug)]
pub enum Incoming {
    /// Has an `id`: lightningd waits for exactly one response with that id.
    Request {
        id: Box<RawValue>,
        method: String,
        params: Box<RawValue>,
    },
    /// No `id`: nothing may be answered.
    Notification {
        method: String,
        params: Box<RawValue>,
    },
}

/// A message that cannot be served.
#[derive(Debug)]
pub enum Rejected {
    /// Its id could be read: answer it with this error.
    Answer {
        id: Box<RawValue>,
        error: ErrorObject,
    },
    /// No id to answer: log it and move on.
    Drop { reason: String },
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

/// The members we look at, kept raw so that a wrongly typed one can be
/// reported to the caller rather than making the whole message unreadable.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

impl Incoming {
    /// Parses one syntactically complete object. Absent params are treated
    /// as no parameters (`[]`), as JSON-RPC 2.0 allows.
    pub fn parse(bytes: &[u8]) -> Result<Self, Rejected> {
        let env: Envelope = serde_json::from_slice(bytes)
            .map_err(|err| Rejected::parse_error(bytes, &err.to_string()))?;
        let id = env.id.filter(|id| id.get() != "null").map(one_line);
        let reject = |reason: &str| match &id {
            Some(id) => Rejected::answer(id.clone(), codes::INVALID_REQUEST, reason),
            None => Rejected::Drop {
                reason: format!("notification: {reason}"),
            },
        };
        if env.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
            return Err(reject("Invalid request: \"jsonrpc\" must be \"2.0\""));
        }
        let Some(method) = env
            .method
            .and_then(|m| serde_json::from_str::<String>(m.get()).ok())
        else {
            return Err(reject(
                "Invalid request: \"method\" is missing or not a string",
            ));
        };
        let params = match env.params {
            Some(raw) => compact(raw),
            None => RawValue::from_string("[]".to_owned()).expect("valid JSON"),
        };
        Ok(match id {
            Some(id) => Incoming::Request { id, method, params },
            None => Incoming::Notification { method, params },
        })
    }
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
    /// their id can still be read.
    pub fn parse_error(bytes: &[u8], why: &str) -> Self {
        match recover_id(bytes) {
            Some(id) => Rejected::answer(id, codes::PARSE_ERROR, format!("Parse error: {why}")),
            None => Rejected::Drop {
                reason: format!("not valid JSON, no readable id ({why})"),
            },
        }
    }

    /// A message over the size limit, of which only `head` was kept.
    pub fn oversized(head: &[u8], limit: usize) -> Self {
        let why = format!("Invalid request: message larger than {limit} bytes");
        match recover_id(head) {
            Some(id) => Rejected::answer(id, codes::INVALID_REQUEST, why),
            None => Rejected::Drop {
                reason: format!("{why}, no readable id"),
            },
        }
    }
}

/// Finds the top-level `"id"` member of a broken object and reads its value,
/// which must itself be valid JSON other than `null`. Tolerant by design: the
/// rest of the object may be anything.
pub fn recover_id(bytes: &[u8]) -> Option<Box<RawValue>> {
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let end = string_end(bytes, i)?;
                if depth == 1 && &bytes[i..=end] == b"\"id\"" {
                    let after = skip_ws(bytes, end + 1);
                    if bytes.get(after) == Some(&b':') {
                        let value = skip_ws(bytes, after + 1);
                        let mut de = serde_json::Deserializer::from_slice(&bytes[value..]);
                        let id = Box::<RawValue>::deserialize(&mut de).ok()?;
                        return (id.get() != "null").then(|| one_line(&id));
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the `"` closing the string that opens at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'"' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn skip_ws(bytes: &[u8], from: usize) -> usize {
    from + bytes[from.min(bytes.len())..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}

/// The id as sent, unless it holds raw line breaks (only possible between
/// the tokens of an array or object id): then compacted.
fn one_line(id: &RawValue) -> Box<RawValue> {
    if id.get().contains(['\n', '\r']) {
        compact(id)
    } else {
        id.to_owned()
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
    Debug,
    Info,
    Warn,
    Error,
}

/// The `error` member of a JSON-RPC error response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A message we send to lightningd.
#[derive(Debug)]
pub enum Outgoing {
    Response {
        id: Box<RawValue>,
        result: Box<RawValue>,
    },
    Error {
        id: Box<RawValue>,
        error: ErrorObject,
    },
    Log {
        level: Level,
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
