use super::*;
use rstest::rstest;

/// Runs the checker over `text` (which must start with `{`): the
/// position where it ended or failed, and the checker.
fn check_with(text: &[u8], max_depth: usize) -> (usize, Step, Syntax) {
    let mut syntax = Syntax::new(max_depth);
    syntax.start(0, true);
    for (at, &b) in text.iter().enumerate().skip(1) {
        match syntax.step(b, at as u64) {
            Step::More => {}
            other => return (at, other, syntax),
        }
    }
    (text.len(), Step::More, syntax)
}

fn check(text: &str) -> (usize, Step) {
    let (at, step, _) = check_with(text.as_bytes(), usize::MAX);
    (at, step)
}

/// The id's text as the checker found it.
fn id_of(text: &str) -> Option<&str> {
    let (_, _, syntax) = check_with(text.as_bytes(), usize::MAX);
    match syntax.id() {
        IdSpan::Whole { start, end } => Some(&text[start as usize..end as usize]),
        _ => None,
    }
}

#[rstest]
#[case::empty("{}")]
#[case::all_kinds(r#"{"a":[1,-0.5,2e10,1E-3,0,true,false,null,"s",{},[]]}"#)]
#[case::whitespace(" {\n\t\"a\" :\r\n [ 1 , 2 ] }")]
#[case::escapes(r#"{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}"#)]
#[case::numbers_end_at_brackets(r#"{"a":[1],"b":1}"#)]
#[case::deep(r#"{"a":[[[[[[[[[[{"b":[[[]]]}]]]]]]]]]]}"#)]
fn valid_objects_end_at_their_last_byte(#[case] text: &str) {
    let text = text.trim_start();
    assert_eq!(check(text), (text.len() - 1, Step::End), "{text}");
    serde_json::from_str::<serde_json::Value>(text).expect("the case is valid JSON");
}

#[rstest]
#[case::bare_word("{this", 1)]
#[case::trailing_comma(r#"{"a":1,}"#, 7)]
#[case::leading_zero(r#"{"a":01}"#, 6)]
#[case::bare_dot(r#"{"a":1.}"#, 7)]
#[case::single_quotes("{'a':1}", 1)]
#[case::raw_newline_in_string("{\"a\":\"x\ny\"}", 7)]
#[case::bad_escape(r#"{"a":"\x"}"#, 7)]
#[case::short_unicode_escape(r#"{"a":"\u12"}"#, 10)]
#[case::mismatched(r#"{"a":[}"#, 6)]
#[case::missing_colon(r#"{"a" 1}"#, 5)]
#[case::literal_typo(r#"{"a":nul}"#, 8)]
#[case::two_values(r#"{"a":1 2}"#, 7)]
fn invalid_input_fails_at_the_first_bad_byte(#[case] text: &str, #[case] at: usize) {
    let (pos, step) = check(text);
    assert!(matches!(step, Step::Invalid(_)), "{text}: {step:?}");
    assert_eq!(pos, at, "{text}");
    assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
}

#[test]
fn open_objects_are_reported_with_their_positions() {
    let (_, step, syntax) = check_with(br#"{"a":[{"b":{}},{"c":[{"#, usize::MAX);
    assert_eq!(step, Step::More);
    assert_eq!(syntax.open_objects(), &[15, 21]);
}

#[test]
fn positions_are_not_kept_when_told_not_to() {
    let mut syntax = Syntax::new(usize::MAX);
    syntax.start(0, false);
    for (at, b) in br#"{"a":{"b":{"#.iter().enumerate().skip(1) {
        assert_eq!(syntax.step(*b, at as u64), Step::More);
    }
    assert!(syntax.open_objects().is_empty());
}

#[test]
fn nesting_past_the_cap_is_invalid() {
    let text = format!("{{\"a\":{}", "[".repeat(10));
    let (at, step, _) = check_with(text.as_bytes(), 4);
    assert_eq!(
        step,
        Step::Invalid("nested deeper than the message limit allows")
    );
    assert_eq!(at, 5 + 3);
}

#[test]
fn a_deep_stack_costs_a_bit_per_level() {
    let text = format!("{{\"a\":{}", "[".repeat(1 << 20));
    let (_, step, syntax) = check_with(text.as_bytes(), usize::MAX);
    assert_eq!(step, Step::More);
    assert!(
        syntax.held_bytes() <= (1 << 20) / 4,
        "{}",
        syntax.held_bytes()
    );
}

#[rstest]
#[case::first(r#"{"id":"a","method":"x"}"#, Some(r#""a""#))]
#[case::last(r#"{"method":"x","id":12}"#, Some("12"))]
#[case::number_before_whitespace(r#"{"id":12 ,"x":1}"#, Some("12"))]
#[case::spaces_around(r#"{ "id" : "a b" , "x":1}"#, Some(r#""a b""#))]
#[case::object_value(r#"{"id":{"a":[1]},"x":1}"#, Some(r#"{"a":[1]}"#))]
#[case::escaped_key(r#"{"\u0069d":5}"#, Some("5"))]
#[case::brace_in_the_id(r#"{"id":"a{b","x":1}"#, Some(r#""a{b""#))]
#[case::nested_ignored(r#"{"params":{"id":1},"x":1}"#, None)]
#[case::in_an_array_ignored(r#"{"params":["id",1],"x":1}"#, None)]
#[case::longer_key(r#"{"idx":1}"#, None)]
#[case::duplicate(r#"{"id":1,"id":2}"#, None)]
fn the_top_level_id_is_found_when_whole(#[case] text: &str, #[case] id: Option<&str>) {
    assert_eq!(check(text).1, Step::End, "{text}");
    assert_eq!(id_of(text), id, "{text}");
}

#[rstest]
#[case::cut_number(r#"{"id":123"#)]
#[case::cut_string(r#"{"id":"ab"#)]
#[case::not_yet_delimited(r#"{"id":"ab""#)]
#[case::not_yet_delimited_number(r#"{"id":12 "#)]
#[case::bad_byte_after(r#"{"id":12x"#)]
#[case::bad_byte_after_string(r#"{"id":"a" "b"}"#)]
#[case::bad_byte_inside(r#"{"id":[1,}"#)]
fn an_id_not_followed_by_its_delimiter_is_not_found(#[case] text: &str) {
    assert_eq!(id_of(text), None, "{text}");
}

#[test]
fn an_id_before_the_bad_byte_is_found() {
    let text = r#"{"jsonrpc":"2.0","id":"bad","method": oops}"#;
    let (at, step, syntax) = check_with(text.as_bytes(), usize::MAX);
    assert_eq!((at, step), (38, Step::Invalid("expected a value")));
    assert_eq!(syntax.id(), IdSpan::Whole { start: 22, end: 27 });
}
