use super::*;
use rstest::rstest;

/// Runs the checker over `text`: where it ended or failed, and the checker.
fn check_with(text: &[u8], max_depth: usize) -> (usize, Step, Checker) {
    let mut checker = Checker::new(max_depth);
    checker.start();
    for (at, &b) in text.iter().enumerate() {
        match checker.step(b, at as u64) {
            Step::More => {}
            other => return (at, other, checker),
        }
    }
    (text.len(), Step::More, checker)
}

fn check(text: &str) -> (usize, Step) {
    let (at, step, _) = check_with(text.as_bytes(), usize::MAX);
    (at, step)
}

/// The raw text of `field`'s value, when whole.
fn member(text: &str, field: Field) -> Option<&str> {
    let (_, _, checker) = check_with(text.as_bytes(), usize::MAX);
    match checker.member(field) {
        Span::Whole { start, end } => Some(&text[start as usize..end as usize]),
        _ => None,
    }
}

/// Strict JSON, and what lightningd's tokenizer (jsmn, strict mode, plus
/// `validate_jsmn_parse_output`) accepts although JSON does not: all end at
/// their last byte, as in lightningd.
#[rstest]
#[case::empty("{}")]
#[case::all_kinds(r#"{"a":[1,-0.5,2e10,1E-3,0,true,false,null,"s",{},[]]}"#)]
#[case::whitespace(" {\n\t\"a\" :\r\n [ 1 , 2 ] }")]
#[case::escapes(r#"{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}"#)]
#[case::deep(r#"{"a":[[[[[[[[[[{"b":[[[]]]}]]]]]]]]]]}"#)]
#[case::minus_infinity(r#"{"params":[-Infinity],"id":1}"#)]
#[case::two_dots(r#"{"params":[1.2.3]}"#)]
#[case::leading_zero(r#"{"a":01}"#)]
#[case::nan(r#"{"a":[nan]}"#)]
#[case::no_comma_in_array(r#"{"a":[1 2]}"#)]
#[case::double_comma(r#"{"a":[1,,2]}"#)]
#[case::trailing_comma_in_array(r#"{"a":[1,]}"#)]
#[case::trailing_comma_in_object(r#"{"a":1,}"#)]
#[case::raw_tab_and_control_in_a_string("{\"a\":\"x\ty\u{1}z\"}")]
#[case::raw_newlines_in_a_string("{\"a\":\"x\n\n{\\\"id\\\":1}\"}")]
#[case::brace_inside_a_primitive(r#"{"a":[t{"id":"X"]}"#)]
#[case::quote_inside_a_primitive(r#"{"a":[n"]}"#)]
#[case::no_comma_after_a_container(r#"{"a":{} "b":1}"#)]
#[case::value_for_an_empty_container(r#"{"a":[]:1}"#)]
fn lightningd_accepts_and_so_do_we(#[case] text: &str) {
    assert_eq!(check(text), (text.len() - 1, Step::End), "{text}");
}

/// What lightningd refuses, at the first byte that makes it refuse
/// whatever follows.
#[rstest]
#[case::bare_word("{this", 1)]
#[case::single_quotes("{'a':1}", 1)]
#[case::bad_escape(r#"{"a":"\x"}"#, 7)]
#[case::short_unicode_escape(r#"{"a":"\u12"}"#, 10)]
#[case::mismatched(r#"{"a":[}"#, 6)]
#[case::primitive_as_key(r#"{1:2}"#, 1)]
#[case::missing_colon(r#"{"a" 1}"#, 5)]
#[case::two_values(r#"{"a":1 2}"#, 7)]
#[case::two_string_values(r#"{"a":"x" "y"}"#, 9)]
#[case::key_without_value(r#"{"a","b":1}"#, 5)]
#[case::object_as_key(r#"{{}}"#, 1)]
#[case::value_after_a_string_value(r#"{"a":["x":1]}"#, 10)]
#[case::value_after_a_primitive(r#"{"a":[1 :2]}"#, 9)]
#[case::control_byte_in_a_primitive("{\"a\":tr\u{1}e}", 7)]
#[case::nul_in_a_string("{\"a\":\"\0\"}", 6)]
#[case::not_utf8(b"{\"a\":\"\xff\"}".as_slice(), 6)]
#[case::surrogate_in_utf8(b"{\"a\":\"\xed\xa0\x80\"}".as_slice(), 7)]
#[case::overlong(b"{\"a\":\"\xc0\x80\"}".as_slice(), 6)]
fn lightningd_refuses_and_so_do_we(#[case] text: impl AsRef<[u8]>, #[case] at: usize) {
    let (got, step, _) = check_with(text.as_ref(), usize::MAX);
    assert!(matches!(step, Step::Invalid(_)), "{step:?}");
    assert_eq!(got, at);
}

/// Case 3 of issue 21: lightningd's id is the first member whose raw key
/// is `id`; a second one, or `"\u0069d"`, is just a member.
#[rstest]
#[case::first(r#"{"id":"a","method":"x"}"#, Some(r#""a""#))]
#[case::last(r#"{"method":"x","id":12}"#, Some("12"))]
#[case::number_before_whitespace(r#"{"id":12 ,"x":1}"#, Some("12"))]
#[case::spaces_around(r#"{ "id" : "a b" , "x":1}"#, Some(r#""a b""#))]
#[case::brace_in_the_id(r#"{"id":"a{b","x":1}"#, Some(r#""a{b""#))]
#[case::duplicate_takes_the_first(r#"{"id":1,"id":2}"#, Some("1"))]
#[case::escaped_key_is_not_id(r#"{"\u0069d":5}"#, None)]
#[case::escaped_key_then_id(r#"{"\u0069d":5,"id":6}"#, Some("6"))]
#[case::nested_ignored(r#"{"params":{"id":1},"x":1}"#, None)]
#[case::in_an_array_ignored(r#"{"params":["id",1],"x":1}"#, None)]
#[case::in_a_primitive_ignored(r#"{"params":[t{"id":"X"]}"#, None)]
#[case::longer_key(r#"{"idx":1}"#, None)]
#[case::after_nonstrict_params(r#"{"params":[-Infinity],"id":"cln:1"}"#, Some(r#""cln:1""#))]
#[case::object_value(r#"{"id":{"a":[1]},"x":1}"#, Some(r#"{"a":[1]}"#))]
fn the_id_is_lightningds(#[case] text: &str, #[case] id: Option<&str>) {
    assert_eq!(member(text, Field::Id), id);
}

#[test]
fn method_params_and_jsonrpc_follow_the_same_rule() {
    let text = r#"{"jsonrpc":"2.0","method":"m","method":"n","params":[1 2],"id":"x"}"#;
    assert_eq!(member(text, Field::Method), Some(r#""m""#));
    assert_eq!(member(text, Field::Params), Some("[1 2]"));
    assert_eq!(member(text, Field::Jsonrpc), Some(r#""2.0""#));
}

#[rstest]
#[case::cut_number(r#"{"id":123"#)]
#[case::cut_string(r#"{"id":"ab"#)]
#[case::not_yet_delimited(r#"{"id":"ab""#)]
#[case::not_yet_delimited_number(r#"{"id":12 "#)]
#[case::bad_byte_after(r#"{"id":12"#)]
#[case::second_value(r#"{"id":"a" "b"}"#)]
fn an_id_that_could_still_change_is_not_whole(#[case] text: &str) {
    assert_eq!(member(text, Field::Id), None);
}

#[test]
fn an_id_before_the_bad_byte_is_whole() {
    let text = r#"{"id":7,"m":"\q"}"#;
    let (_, step, checker) = check_with(text.as_bytes(), usize::MAX);
    assert!(matches!(step, Step::Invalid(_)));
    assert_eq!(checker.member(Field::Id), Span::Whole { start: 6, end: 7 });
}

#[test]
fn nesting_past_the_cap_is_invalid() {
    let text = format!("{{\"a\":{}", "[".repeat(10));
    let (at, step, _) = check_with(text.as_bytes(), 5);
    assert_eq!(
        step,
        Step::Invalid("nested deeper than the message limit allows")
    );
    assert_eq!(at, 5 + 4);
}

#[test]
fn a_deep_stack_costs_a_bit_per_level() {
    let text = format!("{{\"a\":{}", "[".repeat(100_000));
    let (_, step, checker) = check_with(text.as_bytes(), usize::MAX);
    assert_eq!(step, Step::More);
    assert!(
        checker.held_bytes() <= 2 * 100_000 / 8 + 64,
        "{}",
        checker.held_bytes()
    );
}

#[test]
fn string_contents_are_skipped_in_one_go_except_top_level_keys() {
    let mut checker = Checker::new(100);
    checker.start();
    for (at, &b) in br#"{"params":["#.iter().enumerate() {
        checker.step(b, at as u64);
    }
    checker.step(b'"', 11);
    assert_eq!(checker.plain_run(b"abc{[\"x"), 5);
    let mut checker = Checker::new(100);
    checker.start();
    checker.step(b'{', 0);
    checker.step(b'"', 1);
    assert_eq!(checker.plain_run(b"id\""), 0, "a top-level key is stepped");
}
