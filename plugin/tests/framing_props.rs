//! Properties of the framer, checked on generated input (the same ones the
//! `plugin/fuzz` target checks on fuzzed input):
//! - valid streams split exactly as `serde_json` splits them;
//! - where reads split the input never changes the objects that come out;
//! - valid messages after garbage all come out;
//! - no input makes it panic or hold more than one message's limit.

use myplugin::protocol::framing::{Frame, FrameReader};
use myplugin::protocol::messages::{Incoming, Rejected};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Feeds `input` cut at `cuts` (positions, any order) and returns the frames.
fn frames(limit: usize, input: &[u8], cuts: &[usize]) -> (Vec<Frame>, usize) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.extend([0, input.len()]);
    points.sort_unstable();
    points.dedup();
    let mut reader = FrameReader::with_limit(limit);
    let (mut out, mut max_pending) = (Vec::new(), 0);
    for pair in points.windows(2) {
        reader.push(&input[pair[0]..pair[1]]);
        while let Some(frame) = reader.next_frame() {
            out.push(frame);
        }
        max_pending = max_pending.max(reader.pending().len());
    }
    (out, max_pending)
}

fn objects(frames: &[Frame]) -> Vec<&[u8]> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Object(bytes) => Some(bytes.as_slice()),
            _ => None,
        })
        .collect()
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
/// characters, invalid UTF-8.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "{", "}", "[", "]", "\"", "\\", ":", ",", "\n", "\n\n", " ", "x", "1", "-", ".", "e",
            "true", "nul", "\\u12", "\u{e9}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
        json_object().prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
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
        let (got, _) = frames(1 << 20, input.as_bytes(), &cuts);
        let serde: Vec<&[u8]> = serde.iter().map(|r| r.get().as_bytes()).collect();
        prop_assert_eq!(got.len(), serde.len(), "non-object frames: {:?}", got);
        prop_assert_eq!(objects(&got), serde);
    }

    #[test]
    fn read_splits_never_change_the_objects(
        input in hostile_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let (whole, _) = frames(1 << 20, &input, &[]);
        let (split, _) = frames(1 << 20, &input, &cuts);
        prop_assert_eq!(objects(&whole), objects(&split));
    }

    #[test]
    fn valid_messages_after_garbage_all_come_out(
        garbage in hostile_bytes(),
        messages in prop::collection::vec(json_object(), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        // lightningd's framing, with one more message after the last one
        // (a garbage prefix may wait for the next byte to be known broken).
        let mut input = garbage.clone();
        for m in &messages {
            input.extend_from_slice(b"\n\n");
            input.extend_from_slice(compact(m).as_bytes());
        }
        input.extend_from_slice(b"\n\n{}\n\n");
        let (got, _) = frames(1 << 20, &input, &cuts);
        let got = objects(&got);
        let mut want: Vec<String> = messages.iter().map(|m| compact(m)).collect();
        want.push("{}".into());
        let tail: Vec<&[u8]> = got[got.len().saturating_sub(want.len())..].to_vec();
        let want: Vec<&[u8]> = want.iter().map(|s| s.as_bytes()).collect();
        prop_assert_eq!(tail, want, "garbage {:?}", String::from_utf8_lossy(&garbage));
    }

    #[test]
    fn no_input_panics_or_grows_past_the_limit(
        input in hostile_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        limit in 1usize..64,
    ) {
        let (got, max_pending) = frames(limit, &input, &cuts);
        let longest_read = input.len();
        prop_assert!(max_pending <= limit + longest_read);
        for frame in got {
            match frame {
                Frame::Object(bytes) => {
                    prop_assert!(bytes.len() <= limit);
                    let _ = Incoming::parse(&bytes);
                }
                Frame::Broken { bytes, .. } => {
                    let _ = Rejected::parse_error(&bytes, "fuzz");
                }
                Frame::Oversized { head, .. } => {
                    prop_assert!(head.len() <= limit);
                    let _ = Rejected::oversized(&head, limit);
                }
                Frame::Garbage(_) => {}
            }
        }
    }
}

/// One line, as lightningd sends its own messages.
fn compact(message: &str) -> String {
    serde_json::from_str::<Value>(message).unwrap().to_string()
}
