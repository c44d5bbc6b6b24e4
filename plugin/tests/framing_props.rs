//! Properties of the framer, checked on generated input (the same ones the
//! `plugin/fuzz` target checks on fuzzed input):
//! - valid streams split exactly as `serde_json` splits them;
//! - where reads split the input never changes the objects that come out,
//!   nor which ids get a reply;
//! - the frames are those of a slow reference framer written straight from
//!   the rules (`tests/reference`);
//! - valid messages after garbage all come out;
//! - no reply ever goes to an id that was not sent whole: a request cut
//!   anywhere is answered with its own id or not at all;
//! - work is linear in the input and memory bounded by the message limit,
//!   whatever the input, also the junk that once made resync quadratic.

mod checks;
mod reference;

use checks::{answered, objects};
use myplugin::protocol::framing::{Frame, FrameReader};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// What reading `input` cut at `cuts` (positions, any order) gave.
struct Run {
    frames: Vec<Frame>,
    max_held: usize,
    work: u64,
    longest_read: usize,
}

fn run(limit: usize, input: &[u8], cuts: &[usize]) -> Run {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.extend([0, input.len()]);
    points.sort_unstable();
    points.dedup();
    let mut reader = FrameReader::with_limit(limit);
    let (mut frames, mut max_held, mut longest_read) = (Vec::new(), 0, 0);
    for pair in points.windows(2) {
        reader.push(&input[pair[0]..pair[1]]);
        longest_read = longest_read.max(pair[1] - pair[0]);
        while let Some(frame) = reader.next_frame() {
            frames.push(frame);
        }
        max_held = max_held.max(reader.held_bytes());
    }
    Run {
        frames,
        max_held,
        work: reader.work(),
        longest_read,
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::vec((".{0,6}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((".{0,6}", json_value()), 0..5),
        any::<bool>(),
    )
        .prop_map(|(kv, pretty)| {
            let object = Value::Object(kv.into_iter().collect::<Map<_, _>>());
            if pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                object.to_string()
            }
        })
}

fn whitespace() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,4}"
}

/// Bytes that stress the framer: JSON punctuation, escapes, control
/// characters, invalid UTF-8, and pieces of the junk that once made resync
/// quadratic (`{"{}":` after `{"a":`).
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "{", "}", "[", "]", "\"", "\\", ":", ",", "\n", "\n\n", " ", "x", "1", "-", ".", "e",
            "true", "nul", "\\u12", "\u{e9}", "{\"{}\":", "{\"a\":", "\"id\":", "\"{\"", "[{",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
        json_object().prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// Long inputs built from few distinct pieces, repeated: what a quadratic
/// resync needs to show.
fn repetitive_junk() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["{\"a\":", "{", "[", "\"", "{\"x\":\"", ""]),
        prop::collection::vec(
            prop::sample::select(vec![
                "{\"{}\":", "{\"{\":", "\"{\"", "{\"a\":[", "\"x{\":", "{}", "{\"", "\",", "[",
                "]", "}", ":",
            ]),
            1..4,
        ),
        200usize..2000,
        prop::sample::select(vec!["x", "}", "]", "\n\n", ""]),
    )
        .prop_map(|(head, unit, times, tail)| {
            let mut junk = head.as_bytes().to_vec();
            for _ in 0..times {
                for piece in &unit {
                    junk.extend_from_slice(piece.as_bytes());
                }
            }
            junk.extend_from_slice(tail.as_bytes());
            junk
        })
}

/// Members of a request in any order, with an id of any shape JSON-RPC
/// allows; and the id's text and where its member ends (after its `,` or
/// `}`).
fn request_with_id() -> impl Strategy<Value = (String, String, usize)> {
    let id = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i32>().prop_map(|n| format!("{n}e{}", n % 7)),
        "[a-z0-9:#/{}\\[\\] ]{0,20}".prop_map(|s| Value::from(s).to_string()),
        ".{0,8}".prop_map(|s| Value::from(s).to_string()),
    ];
    (id, json_value(), any::<u8>(), whitespace()).prop_map(|(id, params, order, ws)| {
        let params = match params {
            Value::Array(_) | Value::Object(_) => params,
            other => Value::Array(vec![other]),
        };
        let mut members = [
            ("jsonrpc".to_owned(), "\"2.0\"".to_owned()),
            ("method".to_owned(), "\"myplugin\"".to_owned()),
            ("params".to_owned(), params.to_string()),
            ("id".to_owned(), id.clone()),
        ];
        // A rotation chosen by the seed: the id anywhere, first to last.
        members.rotate_left((order % 4) as usize);
        let mut text = String::from("{");
        let mut id_end = 0;
        for (i, (key, value)) in members.iter().enumerate() {
            text.push_str(&format!("\"{key}\"{ws}:{ws}{value}{ws}"));
            text.push(if i + 1 == members.len() { '}' } else { ',' });
            if key == "id" {
                id_end = text.len();
            }
        }
        (text, id, id_end)
    })
}

/// Params lightningd's tokenizer accepts, built from pieces that are not
/// JSON and from requests with other ids (issue 21): nothing in them may
/// be answered.
fn lightningd_params() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("-Infinity".to_owned()),
        Just("1.2.3".to_owned()),
        Just("01".to_owned()),
        Just("nan".to_owned()),
        Just("t{\"id\":\"victim\"".to_owned()),
        Just("[1 2]".to_owned()),
        Just("[1,,2]".to_owned()),
        Just("{\"a\":1,}".to_owned()),
        Just("\"a\tb\\n\n\n{\\\"id\\\":1}\"".to_owned()),
        "[a-z0-9]{1,6}".prop_map(|id| format!(
            r#"{{"jsonrpc":"2.0","id":"{id}","method":"myplugin","params":[]}}"#
        )),
        "[a-z0-9]{1,6}".prop_map(|id| format!(r#"{{"id":"{id}"}}"#)),
    ];
    (
        prop::collection::vec(piece, 0..6),
        prop::collection::vec(" |,|\n\n", 6),
    )
        .prop_map(|(pieces, seps)| {
            let mut text = String::from("[");
            for (i, p) in pieces.iter().enumerate() {
                if i > 0 {
                    text.push_str(&seps[i % seps.len()]);
                }
                text.push_str(p);
            }
            text.push(']');
            text
        })
}

proptest! {
    /// One reply per top-level id, to lightningd's id (the first raw `id`
    /// member) and to nothing else, wherever the id sits and whatever the
    /// params hold.
    #[test]
    fn only_the_first_top_level_id_is_answered_once(
        params in lightningd_params(),
        order in 0usize..4,
        duplicate in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut members = vec![
            r#""jsonrpc":"2.0""#.to_owned(),
            r#""method":"myplugin""#.to_owned(),
            format!(r#""params":{params}"#),
        ];
        members.insert(order.min(members.len()), r#""id":"cln:myplugin#1""#.to_owned());
        if duplicate {
            members.push(r#""id":"second""#.to_owned());
            members.push(r#""\u0069d":"third""#.to_owned());
        }
        let input = format!("{{{}}}\n\n", members.join(","));
        let frames = run(1 << 20, input.as_bytes(), &cuts).frames;
        prop_assert_eq!(frames.len(), 1, "{:?}", frames);
        prop_assert_eq!(answered(&frames), vec![r#""cln:myplugin#1""#.to_owned()], "{}", input);
    }

    #[test]
    fn valid_streams_split_as_serde_json_does(
        messages in prop::collection::vec((json_object(), whitespace()), 0..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let input: String = messages.iter().map(|(m, ws)| format!("{m}{ws}")).collect();
        let serde: Vec<&RawValue> = serde_json::Deserializer::from_str(&input)
            .into_iter::<&RawValue>()
            .collect::<Result<_, _>>()
            .unwrap();
        let got = run(1 << 20, input.as_bytes(), &cuts).frames;
        let serde: Vec<&[u8]> = serde.iter().map(|r| r.get().as_bytes()).collect();
        prop_assert_eq!(got.len(), serde.len(), "non-object frames: {:?}", got);
        prop_assert_eq!(objects(&got), serde);
    }

    #[test]
    fn read_splits_never_change_the_objects_or_who_is_answered(
        input in hostile_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limit in prop::sample::select(vec![16usize, 64, 1 << 20]),
    ) {
        let whole = run(limit, &input, &[]).frames;
        let split = run(limit, &input, &cuts).frames;
        prop_assert_eq!(objects(&whole), objects(&split));
        prop_assert_eq!(answered(&whole), answered(&split));
    }

    #[test]
    fn frames_are_those_of_the_reference_framer(
        input in prop_oneof![hostile_bytes(), repetitive_junk()],
        limit in prop::sample::select(vec![8usize, 64, 1 << 20]),
    ) {
        let fast = run(limit, &input, &[]).frames;
        prop_assert_eq!(fast, reference::frames(&input, limit));
    }

    #[test]
    fn valid_messages_after_garbage_all_come_out(
        garbage in prop_oneof![hostile_bytes(), repetitive_junk()],
        messages in prop::collection::vec(json_object(), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        // Once the garbage's own value is over (lightningd's tokenizer
        // would go on reading an open object into what follows, and so do
        // we), every message after it comes out, in lightningd's framing.
        let mut probe = FrameReader::new();
        probe.push(&garbage);
        probe.push(b"\n\n");
        while probe.next_frame().is_some() {}
        if probe.pending().iter().any(|b| !b.is_ascii_whitespace()) {
            return Ok(());
        }
        let mut input = garbage.clone();
        for m in &messages {
            input.extend_from_slice(b"\n\n");
            input.extend_from_slice(compact(m).as_bytes());
        }
        input.extend_from_slice(b"\n\n");
        let got = run(1 << 20, &input, &cuts).frames;
        let got = objects(&got);
        let want: Vec<String> = messages.iter().map(|m| compact(m)).collect();
        let tail: Vec<&[u8]> = got[got.len().saturating_sub(want.len())..].to_vec();
        let want: Vec<&[u8]> = want.iter().map(|s| s.as_bytes()).collect();
        prop_assert_eq!(tail, want, "garbage {:?}", String::from_utf8_lossy(&garbage));
    }

    #[test]
    fn a_request_cut_anywhere_is_answered_with_its_own_id_or_not_at_all(
        (request, id, id_end) in request_with_id(),
        cut in any::<prop::sample::Index>(),
        tail in prop::sample::select(vec!["", "\n\n", "\n\nx{[\"\n\n", "x"]),
        limit in prop::sample::select(vec![24usize, 60, 1 << 20]),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let cut = cut.index(request.len() + 1);
        let next = r#"{"jsonrpc":"2.0","id":"next","method":"x","params":[]}"#;
        // A message after `next` makes a swallowing combination invalid
        // (see README.md, Known limits).
        let mut input = request.as_bytes()[..cut].to_vec();
        input.extend_from_slice(format!("{tail}\n\n{next}\n\n{{}}\n\n").as_bytes());
        let input = &input[..];
        let frames = run(limit, input, &cuts).frames;
        let answered = answered(&frames);
        let ours = answered.iter().filter(|a| **a == id).count();
        let others: Vec<&String> = answered.iter().filter(|a| **a != id && *a != "\"next\"").collect();
        prop_assert!(
            others.is_empty(), "answered {:?} for id {} in {:?}", others, id, String::from_utf8_lossy(input)
        );
        prop_assert!(ours <= 1, "{} answered {} times", id, ours);
        if ours == 1 && id != "\"next\"" {
            prop_assert!(cut >= id_end, "{} answered though cut at {} of {:?}", id, cut, request);
        }
        if cut == request.len() && request.len() <= limit {
            prop_assert_eq!(ours, 1, "the whole request was not answered");
        }
        // A cut request is bytes lightningd never sends: like lightningd's
        // own reader, we may read what follows as the rest of it.
        if limit == 1 << 20 && cut == request.len() && !tail.contains('{') {
            prop_assert!(
                answered.iter().any(|a| a == "\"next\""), "next lost after {:?}", String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn work_is_linear_and_memory_bounded_whatever_the_input(
        input in prop_oneof![hostile_bytes(), repetitive_junk()],
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limit in prop::sample::select(vec![1usize, 16, 64, 1 << 20]),
    ) {
        let got = run(limit, &input, &cuts);
        prop_assert!(
            got.work <= 5 * input.len() as u64 + 8,
            "{} bytes took {} steps", input.len(), got.work
        );
        let bound = 8 * (limit.min(input.len()) + got.longest_read) + 4096;
        prop_assert!(got.max_held <= bound, "held {} bytes, bound {}", got.max_held, bound);
        for frame in &got.frames {
            match frame {
                Frame::Object(message) => prop_assert!(message.bytes.len() <= limit),
                Frame::Oversized { head, len, .. } => {
                    prop_assert!(head.len() <= limit);
                    prop_assert!(*len > limit as u64);
                }
                _ => {}
            }
        }
    }
}

#[test]
fn the_junk_of_issue_16_takes_linear_work() {
    let mut junk = b"{\"a\":".to_vec();
    while junk.len() < 1 << 20 {
        junk.extend_from_slice(b"{\"{}\":");
    }
    junk.extend_from_slice(b"x\n\n{}");
    let got = run(64 << 20, &junk, &[]);
    assert!(got.work <= 4 * junk.len() as u64, "{} steps", got.work);
    assert_eq!(objects(&got.frames).last(), Some(&b"{}".as_slice()));
}

/// One line, as lightningd sends its own messages.
fn compact(message: &str) -> String {
    serde_json::from_str::<Value>(message).unwrap().to_string()
}
