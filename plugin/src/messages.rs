//! The JSON-RPC 2.0 messages exchanged with lightningd, in both directions.
//!
//! Two details of CLN's protocol shape these types:
//! - lightningd matches a response to its request by the *raw text* of `id`,
//!   so ids are kept as raw JSON (`RawValue`) and echoed byte for byte: a
//!   number stays a number (v23.02 with default config), a string keeps its
//!   exact escaping (later versions use ids like `"cli:myplugin#42/cln:myplugin#7"`).
//! - `myplugin` must return the caller's params exactly as received, so they
//!   are kept raw too (no float rounding, no reordered keys); only the
//!   insignificant whitespace a client may have put between tokens is removed.

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
    /// Valid JSON with an `id`, but not a usable request (say, no `method`).
    /// It still gets an answer, or the caller would wait forever.
    Invalid { id: Box<RawValue>, reason: String },
}

/// Why a complete frame could not be used as a message.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("notification without a string \"method\" (nothing to answer, nothing to do)")]
    NoMethod,
}

/// The members we look at, kept raw so that a wrongly typed one can be
/// reported to the caller rather than making the whole message unreadable.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

impl Incoming {
    /// Parses one frame. Params that are absent are treated as no
    /// parameters (`[]`), as JSON-RPC 2.0 allows; lightningd itself always
    /// sends them.
    pub fn parse(bytes: &[u8]) -> Result<Self, MessageError> {
        let env: Envelope = serde_json::from_slice(bytes)?;
        let id = env
            .id
            .filter(|id| id.get() != "null")
            .map(RawValue::to_owned);
        let method = env
            .method
            .and_then(|m| serde_json::from_str::<String>(m.get()).ok());
        let params = match env.params {
            Some(raw) => compact(raw),
            None => RawValue::from_string("[]".to_owned())?,
        };
        Ok(match (id, method) {
            (Some(id), Some(method)) => Incoming::Request { id, method, params },
            (None, Some(method)) => Incoming::Notification { method, params },
            (Some(id), None) => Incoming::Invalid {
                id,
                reason: INVALID_REQUEST_REASON.to_owned(),
            },
            (None, None) => return Err(MessageError::NoMethod),
        })
    }
}

const INVALID_REQUEST_REASON: &str = "Invalid request: \"method\" is missing or not a string";

/// Removes whitespace between JSON tokens, keeping every token's text as is.
/// Passthrough params can hold the client's newlines; our replies must stay
/// one compact line of JSON so that `\n\n` really ends each message.
fn compact(raw: &RawValue) -> Box<RawValue> {
    let text = raw.get();
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

/// JSON-RPC error codes this plugin answers with.
pub mod codes {
    /// Standard JSON-RPC: the message is JSON but not a request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Standard JSON-RPC: the method is not one of ours.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Standard JSON-RPC: the params of `init` lack what we need.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Standard JSON-RPC: we could not do the work (lightningd's RPC failed).
    pub const INTERNAL_ERROR: i64 = -32603;
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

/// The `error` member of a JSON-RPC error response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl Outgoing {
    /// A successful response carrying any serialisable result.
    pub fn result(id: Box<RawValue>, result: &impl Serialize) -> Self {
        let result = serde_json::value::to_raw_value(result).expect("results are plain JSON data");
        Outgoing::Response { id, result }
    }

    /// An error response.
    pub fn error(
        id: Box<RawValue>,
        code: i64,
        message: impl Into<String>,
        data: Option<Value>,
    ) -> Self {
        let error = ErrorObject {
            code,
            message: message.into(),
            data,
        };
        Outgoing::Error { id, error }
    }

    /// The compact JSON text of the message, without the `\n\n` separator.
    ///
    /// Written with `format!` around already-serialised parts so that the raw
    /// `id` and `result` go out exactly as they are.
    pub fn to_json(&self) -> String {
        match self {
            Outgoing::Response { id, result } => {
                format!(
                    r#"{{"jsonrpc":"2.0","id":{},"result":{}}}"#,
                    id.get(),
                    result.get()
                )
            }
            Outgoing::Error { id, error } => {
                format!(
                    r#"{{"jsonrpc":"2.0","id":{},"error":{}}}"#,
                    id.get(),
                    to_json(error)
                )
            }
            Outgoing::Log { level, message } => {
                let params = serde_json::json!({ "level": level, "message": message });
                format!(
                    r#"{{"jsonrpc":"2.0","method":"log","params":{}}}"#,
                    to_json(&params)
                )
            }
        }
    }
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("outgoing messages are plain JSON data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    fn request(bytes: &str) -> (String, String, String) {
        match Incoming::parse(bytes.as_bytes()).unwrap() {
            Incoming::Request { id, method, params } => {
                (id.get().to_owned(), method, params.get().to_owned())
            }
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[rstest]
    #[case::numeric_id(r#"{"jsonrpc":"2.0","id":0,"method":"getmanifest","params":{}}"#, "0")]
    #[case::string_id(
        r#"{"jsonrpc":"2.0","id":"cln:init#1","method":"init","params":{}}"#,
        r#""cln:init#1""#
    )]
    #[case::escaped_slash_kept(
        r#"{"jsonrpc":"2.0","id":"a\/b","method":"x","params":[]}"#,
        r#""a\/b""#
    )]
    #[case::unicode_escape_kept(
        r#"{"jsonrpc":"2.0","id":"\u00e9","method":"x","params":[]}"#,
        r#""\u00e9""#
    )]
    #[case::float_like_id_kept(r#"{"jsonrpc":"2.0","id":5.0,"method":"x","params":[]}"#, "5.0")]
    fn ids_are_kept_byte_for_byte(#[case] msg: &str, #[case] id: &str) {
        assert_eq!(request(msg).0, id);
    }

    #[rstest]
    #[case::empty_array(r#"[]"#, "[]")]
    #[case::positional(r#"[ "bar1" , "bar2" ]"#, r#"["bar1","bar2"]"#)]
    #[case::keyword_order_kept(
        r#"{ "foo2" : "bar2", "foo1":"bar1" }"#,
        r#"{"foo2":"bar2","foo1":"bar1"}"#
    )]
    #[case::raw_newlines(" {\n\n\"a\" :\n [1,\n2]\n}", r#"{"a":[1,2]}"#)]
    #[case::spaces_in_strings_kept(r#"[" a b ", "x\" y"]"#, r#"[" a b ","x\" y"]"#)]
    #[case::big_numbers_kept(
        r#"[123456789012345678901234567890, 1.50, 1e3]"#,
        "[123456789012345678901234567890,1.50,1e3]"
    )]
    #[case::unicode(r#"["héllo ✓", "\u2713"]"#, r#"["héllo ✓","\u2713"]"#)]
    #[case::trailing_backslash_in_string(r#"["a\\", "b"]"#, r#"["a\\","b"]"#)]
    fn params_are_kept_but_compacted(#[case] params: &str, #[case] expected: &str) {
        let msg = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"myplugin","params":{params}}}"#);
        assert_eq!(request(&msg).2, expected);
    }

    #[test]
    fn missing_params_mean_no_params() {
        assert_eq!(
            request(r#"{"jsonrpc":"2.0","id":1,"method":"myplugin"}"#).2,
            "[]"
        );
    }

    #[rstest]
    #[case::no_id(r#"{"jsonrpc":"2.0","method":"shutdown","params":{}}"#)]
    #[case::null_id(r#"{"jsonrpc":"2.0","id":null,"method":"shutdown","params":{}}"#)]
    fn notifications_have_no_id(#[case] msg: &str) {
        let parsed = Incoming::parse(msg.as_bytes()).unwrap();
        assert!(
            matches!(parsed, Incoming::Notification { ref method, .. } if method == "shutdown")
        );
    }

    #[rstest]
    #[case::invalid(br#"{"id":1,"method":oops}"#.as_slice(), "not valid JSON")]
    #[case::not_utf8(b"{\"id\":1,\"method\":\"\xff\"}".as_slice(), "not valid JSON")]
    #[case::notification_without_method(br#"{"jsonrpc":"2.0","params":{}}"#.as_slice(), "without a string \"method\"")]
    #[case::notification_with_numeric_method(br#"{"jsonrpc":"2.0","method":5}"#.as_slice(), "without a string \"method\"")]
    fn bad_messages_are_errors(#[case] bytes: &[u8], #[case] expected: &str) {
        let err = Incoming::parse(bytes).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }

    #[rstest]
    #[case::no_method(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)]
    #[case::numeric_method(r#"{"jsonrpc":"2.0","id":1,"method":5,"params":[]}"#)]
    fn requests_without_a_usable_method_are_invalid_but_answerable(#[case] msg: &str) {
        match Incoming::parse(msg.as_bytes()).unwrap() {
            Incoming::Invalid { id, reason } => {
                assert_eq!(id.get(), "1");
                assert_eq!(
                    reason,
                    "Invalid request: \"method\" is missing or not a string"
                );
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn response_wire_format() {
        let msg = Outgoing::result(raw(r#""cli:x#1/cln:x#2""#), &json!({"a": 1}));
        assert_eq!(
            msg.to_json(),
            r#"{"jsonrpc":"2.0","id":"cli:x#1/cln:x#2","result":{"a":1}}"#
        );
    }

    #[test]
    fn error_wire_format() {
        let msg = Outgoing::error(
            raw("7"),
            codes::METHOD_NOT_FOUND,
            "Unknown method 'nope'",
            None,
        );
        assert_eq!(
            msg.to_json(),
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Unknown method 'nope'"}}"#
        );
        let msg = Outgoing::error(
            raw("7"),
            codes::INTERNAL_ERROR,
            "m",
            Some(json!({"k": "v"})),
        );
        assert_eq!(
            msg.to_json(),
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"m","data":{"k":"v"}}}"#
        );
    }

    #[test]
    fn log_wire_format_escapes_newlines() {
        let msg = Outgoing::Log {
            level: Level::Warn,
            message: "two\nlines".into(),
        };
        assert_eq!(
            msg.to_json(),
            r#"{"jsonrpc":"2.0","method":"log","params":{"level":"warn","message":"two\nlines"}}"#
        );
    }
}
