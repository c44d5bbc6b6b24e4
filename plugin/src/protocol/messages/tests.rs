use super::*;
use rstest::rstest;
use serde_json::json;

/// Reads `bytes` as one message and parses it, as the server does.
fn parse(bytes: &[u8]) -> Result<Incoming, Rejected> {
    let message = Message::read(bytes).expect("one whole message");
    Incoming::parse(&message)
}

/// The id lightningd would have read in a message that breaks off, as the
/// framer reports it.
fn find_id(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut reader = super::super::framing::FrameReader::new();
    reader.push(bytes);
    match reader.next_frame() {
        Some(super::super::framing::Frame::Broken { id, .. }) => id,
        _ => None,
    }
}

fn raw(s: &str) -> Box<RawValue> {
    RawValue::from_string(s.to_owned()).unwrap()
}

fn request(bytes: &str) -> (String, String, String) {
    match parse(bytes.as_bytes()).unwrap() {
        Incoming::Request { id, method, params } => {
            (id.get().to_owned(), method, params.get().to_owned())
        }
        other => panic!("expected a request, got {other:?}"),
    }
}

fn answered(bytes: &[u8]) -> (String, i64, String) {
    match parse(bytes) {
        Err(Rejected::Answer { id, error }) => (id.get().to_owned(), error.code, error.message),
        other => panic!("expected an error answer, got {other:?}"),
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
#[case::negative_exponent_kept(r#"{"jsonrpc":"2.0","id":-1e3,"method":"x","params":[]}"#, "-1e3")]
fn ids_are_kept_byte_for_byte(#[case] msg: &str, #[case] id: &str) {
    assert_eq!(request(msg).0, id);
}

/// JSON-RPC 2.0 allows string, number and null ids; lightningd sends only
/// strings and numbers. Any other id is nobody's: no reply at all.
#[rstest]
#[case::bool(r#"{"jsonrpc":"2.0","id":true,"method":"myplugin","params":[]}"#)]
#[case::array(r#"{"jsonrpc":"2.0","id":[1, 2],"method":"myplugin","params":[]}"#)]
#[case::object(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"myplugin","params":[]}"#)]
#[case::wrong_type_and_bad_version(r#"{"jsonrpc":"1.0","id":false,"method":"x"}"#)]
fn ids_of_other_types_are_not_answered(#[case] msg: &str) {
    match parse(msg.as_bytes()) {
        Err(Rejected::Drop { reason }) => {
            assert!(
                reason.starts_with("the id is neither a string nor a number"),
                "{reason}"
            )
        }
        other => panic!("expected a drop, got {other:?}"),
    }
}

#[rstest]
#[case::string(r#""x""#)]
#[case::number("7")]
#[case::null("null")]
#[case::array("[1]")]
#[case::object("{}")]
#[case::bool("false")]
fn params_must_be_an_array_or_an_object(#[case] params: &str) {
    let msg = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"myplugin","params":{params}}}"#);
    match parse(msg.as_bytes()) {
        Ok(Incoming::Request { .. }) => assert!(params.starts_with(['[', '{']), "{params}"),
        Err(Rejected::Answer { error, .. }) => {
            assert!(!params.starts_with(['[', '{']), "{params}");
            assert_eq!(error.code, codes::INVALID_REQUEST);
            assert_eq!(
                error.message,
                "Invalid request: \"params\" must be an array or an object"
            );
        }
        other => panic!("{params}: {other:?}"),
    }
}

#[rstest]
#[case::plain(r#""2.0""#)]
#[case::escaped_dot(r#""2\u002e0""#)]
#[case::escaped_all(r#""\u0032\u002E\u0030""#)]
fn the_version_is_the_string_2_0_however_escaped(#[case] version: &str) {
    let msg = format!(r#"{{"jsonrpc":{version},"id":1,"method":"myplugin","params":[]}}"#);
    assert_eq!(request(&msg).1, "myplugin");
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

/// Case 3 of issue 21: lightningd reads the first member whose raw key is
/// `id` (and `method`, `params`): a duplicate is served, to that id.
#[test]
fn duplicate_members_are_read_as_lightningd_reads_them() {
    let (id, method, params) = request(
        r#"{"jsonrpc":"2.0","id":"x","method":"a","params":[1],"id":"y","method":"b","\u0069d":"z"}"#,
    );
    assert_eq!(
        (id.as_str(), method.as_str(), params.as_str()),
        (r#""x""#, "a", "[1]")
    );
}

#[rstest]
#[case::no_id(r#"{"jsonrpc":"2.0","method":"shutdown","params":{}}"#)]
#[case::null_id(r#"{"jsonrpc":"2.0","id":null,"method":"shutdown","params":{}}"#)]
fn notifications_have_no_id(#[case] msg: &str) {
    let parsed = parse(msg.as_bytes()).unwrap();
    assert!(matches!(parsed, Incoming::Notification { ref method, .. } if method == "shutdown"));
}

/// Case 1 of issue 21: params that lightningd's tokenizer accepts and
/// forwards, but that are not JSON, get -32700 to lightningd's id, wherever
/// it sits (pyln-client writes `params` before `id`).
#[rstest]
#[case::minus_infinity_params_first(br#"{"jsonrpc":"2.0","method":"m","params":[-Infinity],"id":"x"}"#.as_slice())]
#[case::two_dots(br#"{"jsonrpc":"2.0","method":"m","params":[1.2.3],"id":"x"}"#.as_slice())]
#[case::leading_zero(br#"{"jsonrpc":"2.0","method":"m","params":[01],"id":"x"}"#.as_slice())]
#[case::nan(br#"{"jsonrpc":"2.0","method":"m","params":[nan],"id":"x"}"#.as_slice())]
#[case::no_comma(br#"{"jsonrpc":"2.0","method":"m","params":[1 2],"id":"x"}"#.as_slice())]
#[case::double_comma(br#"{"jsonrpc":"2.0","method":"m","params":[1,,2],"id":"x"}"#.as_slice())]
#[case::trailing_comma(br#"{"jsonrpc":"2.0","method":"m","params":[1,],"id":"x"}"#.as_slice())]
#[case::trailing_comma_in_object(br#"{"jsonrpc":"2.0","method":"m","params":{"a":1,},"id":"x"}"#.as_slice())]
#[case::raw_tab(b"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[\"a\tb\"],\"id\":\"x\"}".as_slice())]
#[case::raw_control(b"{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":[\"a\x01b\"],\"id\":\"x\"}".as_slice())]
#[case::id_first(br#"{"jsonrpc":"2.0","id":"x","method":"m","params":[-Infinity]}"#.as_slice())]
#[case::nested_request_not_served(br#"{"jsonrpc":"2.0","method":"m","params":[1.2.3,{"jsonrpc":"2.0","id":"X","method":"getinfo","params":[]}],"id":"x"}"#.as_slice())]
fn invalid_json_with_an_id_gets_parse_error(#[case] bytes: &[u8]) {
    let (id, code, message) = answered(bytes);
    assert_eq!((id.as_str(), code), ("\"x\"", codes::PARSE_ERROR));
    assert!(message.starts_with("Parse error: "), "{message}");
}

#[rstest]
#[case::no_method(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, "\"method\" is missing")]
#[case::numeric_method(r#"{"jsonrpc":"2.0","id":1,"method":5}"#, "\"method\" is missing")]
#[case::no_version(r#"{"id":1,"method":"x"}"#, "\"jsonrpc\" must be \"2.0\"")]
#[case::old_version(
    r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
    "\"jsonrpc\" must be \"2.0\""
)]
fn invalid_requests_are_answered_32600(#[case] msg: &str, #[case] expected: &str) {
    let (id, code, message) = answered(msg.as_bytes());
    assert_eq!((id.as_str(), code), ("1", codes::INVALID_REQUEST));
    assert!(message.contains(expected), "{message}");
}

#[rstest]
#[case::no_method(r#"{"jsonrpc":"2.0","params":{}}"#)]
#[case::no_version(r#"{"method":"shutdown"}"#)]
#[case::invalid_json_without_id(br#"{"jsonrpc":"2.0","method":"x","x":tru}"#)]
fn messages_without_id_are_dropped(#[case] msg: impl AsRef<[u8]>) {
    assert!(matches!(parse(msg.as_ref()), Err(Rejected::Drop { .. })));
}

/// Only an id before the first bad byte, followed by its `,` or `}`, is
/// answered: after a syntax error the structure is unknown.
#[rstest]
#[case::before_error(br#"{"jsonrpc":"2.0","id":"a b","method": oops"#.as_slice(), Some(r#""a b""#))]
#[case::brace_in_the_id(br#"{"jsonrpc":"2.0","id":"a{b","method":"x",oops}"#.as_slice(), Some(r#""a{b""#))]
#[case::after_error(br#"{"method": oops, "id" : 42, "x""#.as_slice(), None)]
#[case::nested_id_ignored(br#"{"params":{"id":1}, oops"#.as_slice(), None)]
#[case::id_in_a_string_ignored(br#"{"x":"\"id\":1", oops"#.as_slice(), None)]
#[case::null_id(br#"{"id":null,"#.as_slice(), None)]
#[case::unreadable_id(br#"{"id":nope,"#.as_slice(), None)]
#[case::cut_number(br#"{"jsonrpc":"2.0","id":123"#.as_slice(), None)]
#[case::array_id(b"{\"id\":[1,\n2],x".as_slice(), None)]
#[case::invalid_utf8_in_the_id(b"{\"id\":\"\xff\",x".as_slice(), None)]
fn broken_objects_are_answered_only_to_a_whole_id(#[case] bytes: &[u8], #[case] id: Option<&str>) {
    let answered = match Rejected::parse_error(find_id(bytes).as_deref(), "test") {
        Rejected::Answer { id, error } => {
            assert_eq!(error.code, codes::PARSE_ERROR);
            Some(id.get().to_owned())
        }
        Rejected::Drop { .. } => None,
    };
    assert_eq!(answered.as_deref(), id);
}

#[test]
fn oversized_request_is_answered_when_its_id_was_whole() {
    match Rejected::oversized(Some(br#""big""#), 100) {
        Rejected::Answer { id, error } => {
            assert_eq!(id.get(), r#""big""#);
            assert_eq!(error.code, codes::INVALID_REQUEST);
            assert_eq!(
                error.message,
                "Invalid request: message larger than 100 bytes"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Rejected::oversized(None, 100),
        Rejected::Drop { .. }
    ));
}

#[test]
fn response_wire_format() {
    let msg = Outgoing::Response {
        id: raw(r#""cli:x#1/cln:x#2""#),
        result: raw(r#"{"a":1}"#),
    };
    assert_eq!(
        msg.to_json(),
        r#"{"jsonrpc":"2.0","id":"cli:x#1/cln:x#2","result":{"a":1}}"#
    );
}

#[test]
fn error_wire_format() {
    let error = |data| ErrorObject {
        code: codes::METHOD_NOT_FOUND,
        message: "Unknown method 'nope'".into(),
        data,
    };
    let msg = Outgoing::Error {
        id: raw("7"),
        error: error(None),
    };
    assert_eq!(
        msg.to_json(),
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Unknown method 'nope'"}}"#
    );
    let msg = Outgoing::Error {
        id: raw("7"),
        error: error(Some(json!({"k": "v"}))),
    };
    assert_eq!(
        msg.to_json(),
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"Unknown method 'nope'","data":{"k":"v"}}}"#
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
