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
    Frame::Object(s.as_bytes().to_vec())
}

fn garbage(s: &str) -> Frame {
    Frame::Garbage(s.as_bytes().to_vec())
}

/// The frames' kinds and texts, for compact assertions.
fn summary(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Object(b) => format!("obj {}", String::from_utf8_lossy(b)),
            Frame::Inner(b) => format!("inner {}", String::from_utf8_lossy(b)),
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
#[case::array_is_not_a_message(&["[1,2]\n\n{\"a\":1}"], vec![garbage("[1,2]\n\n"), obj("{\"a\":1}")])]
#[case::incomplete_waits(&["{\"a\":"], vec![])]
#[case::whitespace_only(&["\n\n  \n"], vec![])]
fn splits(#[case] chunks: &[&str], #[case] expected: Vec<Frame>) {
    let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
    assert_eq!(frames(&chunks), expected);
}

/// Broken input: everything valid after it still comes out whole.
#[rstest]
#[case::stray_brace(
    "{this is not json\n\n{\"b\":2}",
    &["broken {this is not json\n\n", "obj {\"b\":2}"]
)]
#[case::unterminated_string(
    "{\"a\":\"oops\n\n{\"b\":2}\n\n",
    &["broken {\"a\":\"oops\n\n", "obj {\"b\":2}"]
)]
#[case::unterminated_string_glued(
    "{\"a\":\"oops{\"b\":2}",
    &["broken {\"a\":\"oops", "inner {\"b\":2}"]
)]
#[case::quote_holding_a_brace(
    "\"x{\" {\"b\":2}",
    &["garbage \"x", "broken {\" ", "inner {\"b\":2}"]
)]
#[case::open_array_then_messages(
    "{\"a\":[[\n\n{\"b\":1}\n\n{\"c\":2}",
    &["broken {\"a\":[[\n\n", "inner {\"b\":1}", "obj {\"c\":2}"]
)]
#[case::invalid_but_balanced(
    "{\"a\": oops}\n\n{\"b\":2}",
    &["broken {\"a\": oops}\n\n", "obj {\"b\":2}"]
)]
#[case::open_objects_of_the_broken_one_are_skipped(
    "{\"a\":{\"b\":{\"c\" x}}}{\"d\":1}",
    &["broken {\"a\":{\"b\":{\"c\" x}}}", "obj {\"d\":1}"]
)]
#[case::closed_inner_object_is_a_resync_point(
    "{\"a\":[{\"b\":1} {\"c\":2}",
    &["broken {\"a\":[", "inner {\"b\":1}", "obj {\"c\":2}"]
)]
fn resyncs_after_broken_input(#[case] input: &str, #[case] expected: &[&str]) {
    assert_eq!(summary(&frames(&[input.as_bytes()])), expected);
}

#[test]
fn broken_frame_says_where_and_why() {
    let got = frames(&[b"{\"id\":1,\"m\": x}"]);
    assert_eq!(
        got,
        vec![Frame::Broken {
            bytes: b"{\"id\":1,\"m\": x}".to_vec(),
            reason: "expected a value",
            at: 13,
            id: Some(b"1".to_vec()),
        }]
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

/// After a resync point inside a string, the broken object's open objects
/// are reached again: they fail at the same byte, answered from memory,
/// with no id (they are part of the broken message).
#[test]
fn open_objects_of_a_broken_object_are_answered_from_memory() {
    let input = b"{\"a\":{\"{}\":{\"id\":1,\"{}\":x{\"b\":2}";
    let got = frames(&[input]);
    assert_eq!(
        summary(&got),
        vec![
            "broken {\"a\":{\"",
            "inner {}",
            "garbage \":",
            "broken {\"id\":1,\"",
            "inner {}",
            "garbage \":x",
            "obj {\"b\":2}",
        ]
    );
    let ids: Vec<_> = got
        .iter()
        .filter_map(|f| match f {
            Frame::Broken { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![None, None]);
}

#[test]
fn a_broken_object_carries_its_id_only_if_it_was_whole_before_the_bad_byte() {
    let id_of = |input: &[u8]| match frames(&[input]).into_iter().next() {
        Some(Frame::Broken { id, .. }) => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        id_of(b"{\"id\":\"a{b\",\"m\":x}"),
        Some(b"\"a{b\"".to_vec())
    );
    assert_eq!(id_of(b"{\"m\":x,\"id\":1}"), None);
    assert_eq!(id_of(b"{\"id\":12x}"), None);
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
