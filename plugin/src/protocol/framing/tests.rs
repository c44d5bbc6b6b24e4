use super::*;
use rstest::rstest;

fn frames_with(limit: usize, chunks: &[&[u8]]) -> Vec<Frame> {
    let mut reader = FrameReader::with_limit(limit);
    let mut out = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        while let Some(frame) = reader.next_frame() {
            out.push(frame);
        }
    }
    out
}

fn frames(chunks: &[&[u8]]) -> Vec<Frame> {
    frames_with(MAX_MESSAGE, chunks)
}

fn obj(s: &str) -> Frame {
    Frame::Object(Message::read(s.as_bytes()).expect("one message"))
}

fn garbage(s: &str) -> Frame {
    Frame::Garbage(s.as_bytes().to_vec())
}

/// The frames' kinds and texts, for compact assertions.
fn summary(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Object(m) => format!("obj {}", String::from_utf8_lossy(&m.bytes)),
            Frame::Garbage(b) => format!("garbage {}", String::from_utf8_lossy(b)),
            Frame::Broken { bytes, .. } => format!("broken {}", String::from_utf8_lossy(bytes)),
            Frame::Oversized { head, .. } => format!("oversized {}", String::from_utf8_lossy(head)),
        })
        .collect()
}

#[rstest]
#[case::one_message(&["{\"a\":1}\n\n"], vec![obj("{\"a\":1}")])]
#[case::glued_without_separator(&["{\"a\":1}{\"b\":2}"], vec![obj("{\"a\":1}"), obj("{\"b\":2}")])]
#[case::two_in_one_read(&["{\"a\":1}\n\n{\"b\":2}\n\n"], vec![obj("{\"a\":1}"), obj("{\"b\":2}")])]
#[case::split_mid_string(&["{\"a\":\"hel", "lo\"}\n\n"], vec![obj("{\"a\":\"hello\"}")])]
#[case::split_byte_by_byte(&["{", "\"", "a", "\"", ":", "[", "]", "}"], vec![obj("{\"a\":[]}")])]
#[case::split_mid_number(&["{\"a\":12", "34}"], vec![obj("{\"a\":1234}")])]
#[case::leading_whitespace(&[" \r\n\t {\"a\":1}"], vec![obj("{\"a\":1}")])]
#[case::raw_newlines_and_blank_lines_between_tokens(
    &["{ \"id\" : 1,\n\n \"params\" :[ \"x\" ]\n}\n\n"],
    vec![obj("{ \"id\" : 1,\n\n \"params\" :[ \"x\" ]\n}")]
)]
#[case::blank_line_then_brace_inside_a_message(
    &["{\"params\":[\n\n{\"a\":1}]}"],
    vec![obj("{\"params\":[\n\n{\"a\":1}]}")]
)]
#[case::braces_inside_strings(&["{\"a\":\"}{][\"}"], vec![obj("{\"a\":\"}{][\"}")])]
#[case::escaped_quote_and_backslash(&["{\"a\":\"\\\"}\\\\\"}"], vec![obj("{\"a\":\"\\\"}\\\\\"}")])]
#[case::escape_split_across_reads(&["{\"a\":\"\\", "\"}\"}"], vec![obj("{\"a\":\"\\\"}\"}")])]
#[case::nested(&["{\"a\":{\"b\":[{\"c\":{}}]}}"], vec![obj("{\"a\":{\"b\":[{\"c\":{}}]}}")])]
#[case::garbage_then_message(&["not json\n\n{\"a\":1}"], vec![garbage("not json\n\n"), obj("{\"a\":1}")])]
#[case::array_is_not_a_message(&["[1,2]\n\n{\"a\":1}"], vec![garbage("[1,2]"), obj("{\"a\":1}")])]
#[case::an_array_is_skipped_whole(&["[{\"a\":1}]{\"b\":2}"], vec![garbage("[{\"a\":1}]"), obj("{\"b\":2}")])]
#[case::nonstrict_params_before_the_id(
    &["{\"params\":[-Infinity,1.2.3,01,nan,[1 2],[1,,2],[1,],{\"a\":1,}],\"id\":\"cln:1\"}\n\n{\"b\":2}"],
    vec![obj("{\"params\":[-Infinity,1.2.3,01,nan,[1 2],[1,,2],[1,],{\"a\":1,}],\"id\":\"cln:1\"}"), obj("{\"b\":2}")]
)]
#[case::request_nested_in_params_is_not_a_message(
    &["{\"params\":[1.2.3,{\"id\":\"X\",\"method\":\"getinfo\"}],\"id\":\"cln:2\"}"],
    vec![obj("{\"params\":[1.2.3,{\"id\":\"X\",\"method\":\"getinfo\"}],\"id\":\"cln:2\"}")]
)]
#[case::incomplete_waits(&["{\"a\":"], vec![])]
#[case::whitespace_only(&["\n\n  \n"], vec![])]
fn splits(#[case] chunks: &[&str], #[case] expected: Vec<Frame>) {
    let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
    assert_eq!(frames(&chunks), expected);
}

/// Bytes lightningd never sends: the bad value is cut at its bad byte (or
/// just before, if that byte may start a message), and what follows is
/// read afresh.
#[rstest]
#[case::stray_brace(
    "{this is not json\n\n{\"b\":2}",
    &["broken {t", "garbage his is not json\n\n", "obj {\"b\":2}"]
)]
#[case::stray_brace_before_a_message(
    "{\n\n{\"b\":2}",
    &["broken {\n\n", "obj {\"b\":2}"]
)]
#[case::quote_holding_a_brace(
    "\"x{\" {\"b\":2}",
    &["garbage \"x", "broken {\" {\"b", "garbage \":2}"]
)]
#[case::invalid_but_balanced(
    "{\"a\": oops}\n\n{\"b\":2}",
    &["broken {\"a\": o", "garbage ops}\n\n", "obj {\"b\":2}"]
)]
#[case::a_string_swallows_what_lightningd_would(
    "{\"a\":\"oops\n\n{\"b\":2}\n\n{\"c\":3}",
    &["broken {\"a\":\"oops\n\n{\"b", "garbage \":2}\n\n", "obj {\"c\":3}"]
)]
fn resyncs_after_broken_input(#[case] input: &str, #[case] expected: &[&str]) {
    assert_eq!(summary(&frames(&[input.as_bytes()])), expected);
}

#[test]
fn broken_frame_says_where_and_why() {
    let got = frames(&[b"{\"id\":1,\"m\": x}"]);
    assert_eq!(
        got,
        vec![
            Frame::Broken {
                bytes: b"{\"id\":1,\"m\": x".to_vec(),
                reason: "a byte that cannot start a token",
                at: 13,
                id: Some(b"1".to_vec()),
            },
            garbage("}")
        ]
    );
}

#[test]
fn large_message_in_small_chunks() {
    let big = format!("{{\"s\":\"{}\"}}", "x".repeat(300_000));
    let chunks: Vec<&[u8]> = big.as_bytes().chunks(4096).collect();
    assert_eq!(frames(&chunks), vec![obj(&big)]);
}

#[test]
fn a_message_of_exactly_the_limit_is_kept() {
    let msg = "{\"a\":\"xxxx\"}";
    assert_eq!(frames_with(msg.len(), &[msg.as_bytes()]), vec![obj(msg)]);
}

#[test]
fn oversized_message_is_cut_and_what_follows_survives() {
    let big = format!("{{\"id\":7,\"s\":\"{}\"}}", "x".repeat(1000));
    let input = format!("{big}\n\n{{\"b\":2}}");
    let chunks: Vec<&[u8]> = input.as_bytes().chunks(64).collect();
    let got = frames_with(100, &chunks);
    assert_eq!(
        got,
        vec![
            Frame::Oversized {
                head: big.as_bytes()[..100].to_vec(),
                len: big.len() as u64,
                id: Some(b"7".to_vec()),
                limit: 100
            },
            obj("{\"b\":2}")
        ]
    );
}

#[test]
fn memory_stays_bounded_by_the_limit_when_an_object_never_ends() {
    let mut reader = FrameReader::with_limit(10_000);
    reader.push(b"{\"a\":\"");
    for _ in 0..1000 {
        reader.push(&[b'x'; 4096]);
        assert_eq!(reader.next_frame(), None, "an oversized object ends first");
        assert!(reader.pending().len() <= 10_000 + 4096);
        assert!(reader.held_bytes() <= 4 * (10_000 + 4096));
    }
    reader.push(b"\"}{\"b\":1}");
    assert!(matches!(
        reader.next_frame(),
        Some(Frame::Oversized {
            len: 4_096_008,
            id: None,
            ..
        })
    ));
    assert_eq!(reader.next_frame(), Some(obj("{\"b\":1}")));
}

#[test]
fn pending_keeps_an_incomplete_message() {
    let mut reader = FrameReader::new();
    reader.push(b"{\"a\":1}\n\n{\"b\":");
    assert_eq!(reader.next_frame(), Some(obj("{\"a\":1}")));
    assert_eq!(reader.next_frame(), None);
    assert_eq!(reader.pending(), b"{\"b\":");
}

#[test]
fn a_broken_object_carries_its_id_only_if_it_was_whole_before_the_bad_byte() {
    let id_of = |input: &[u8]| match frames(&[input]).into_iter().next() {
        Some(Frame::Broken { id, .. }) => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        id_of(b"{\"id\":\"a{b\",\"m\":\"\\x\"}"),
        Some(b"\"a{b\"".to_vec())
    );
    assert_eq!(id_of(b"{\"m\":x,\"id\":1}"), None);
    assert_eq!(id_of(b"{\"id\":12\x01}"), None);
}

#[test]
fn an_oversized_object_is_answered_with_an_id_from_anywhere_in_it() {
    let big = format!("{{\"params\":[\"{}\"],\"id\":\"late\"}}", "x".repeat(1000));
    let chunks: Vec<&[u8]> = big.as_bytes().chunks(7).collect();
    match frames_with(100, &chunks).as_slice() {
        [Frame::Oversized { id, len, .. }] => {
            assert_eq!(id.as_deref(), Some(b"\"late\"".as_slice()));
            assert_eq!(*len, big.len() as u64);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_junk_that_made_resync_quadratic_costs_linear_work() {
    let mut junk = b"{\"a\":".to_vec();
    for _ in 0..20_000 {
        junk.extend_from_slice(b"{\"{}\":");
    }
    junk.extend_from_slice(b"x\n\n{\"ok\":1}");
    let mut reader = FrameReader::new();
    reader.push(&junk);
    let mut last = None;
    while let Some(frame) = reader.next_frame() {
        last = Some(frame);
    }
    assert_eq!(last, Some(obj("{\"ok\":1}")));
    assert!(
        reader.work() <= 4 * junk.len() as u64,
        "{} steps",
        reader.work()
    );
}

#[test]
fn nesting_past_the_limit_while_discarding_resumes() {
    let mut input = b"{\"a\":".to_vec();
    input.extend_from_slice(&[b'['; 300]);
    input.extend_from_slice(b"x\n\n{\"b\":1}");
    let got = summary(&frames_with(100, &[&input]));
    assert_eq!(
        got.last().map(String::as_str),
        Some("obj {\"b\":1}"),
        "{got:?}"
    );
}

/// Issue 21, case 8: after one deeply nested 20 MiB message, the read
/// buffer and the checker's stack kept their peak capacity for as long as
/// nothing else arrived (the stack until the next message, the buffer
/// until the next read). Now both are given back as soon as the message is
/// out, and when it broke.
#[rstest]
#[case::a_whole_message(b"]}".as_slice())]
#[case::a_broken_one(b"x".as_slice())]
fn buffers_shrink_after_a_spike(#[case] tail: &[u8]) {
    let depth = 10 << 20;
    let mut input = br#"{"jsonrpc":"2.0","id":"d","method":"m","params":"#.to_vec();
    input.resize(input.len() + depth, b'[');
    if tail == b"]}" {
        input.resize(input.len() + depth, b']');
        input.push(b'}');
    } else {
        input.extend_from_slice(tail);
    }
    let mut reader = FrameReader::new();
    for chunk in input.chunks(64 << 10) {
        reader.push(chunk);
        while reader.next_frame().is_some() {}
    }
    assert!(
        reader.held_bytes() < 256 << 10,
        "{} bytes held after the spike",
        reader.held_bytes()
    );
    reader.push(b"{\"a\":1}");
    assert_eq!(reader.next_frame(), Some(obj("{\"a\":1}")));
}
