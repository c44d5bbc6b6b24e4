//! Fuzzes framing plus message parsing. The input's first byte seeds where
//! reads are split; the rest is the stream, read with two limits (a small
//! one, so that oversized objects are common, and 4 KiB). Checked on every
//! input (the properties of `tests/framing_props.rs`):
//! - the objects that come out, and the ids that get a reply, do not depend
//!   on where reads split;
//! - if serde_json reads the whole stream as a sequence of objects, the
//!   framer cuts exactly those;
//! - the frames are those of the slow reference framer
//!   (`tests/reference`), which checks every candidate from scratch;
//! - work is linear in the input (at most 5 steps a byte) and memory stays
//!   within a small multiple of the limit plus one read;
//! - every id that gets a reply was sent whole: its text is in the input,
//!   after a `:` and followed by what ends its member;
//! - every frame turns into a message or a rejection without panicking.

#![no_main]

#[path = "../../tests/checks/mod.rs"]
mod checks;
#[path = "../../tests/reference/mod.rs"]
mod reference;

use libfuzzer_sys::fuzz_target;
use checks::{answered, objects};
use myplugin::protocol::framing::{Frame, FrameReader};
use serde_json::value::RawValue;

const LIMITS: [usize; 2] = [64, 4096];

struct Run {
    frames: Vec<Frame>,
    work: u64,
    max_held: usize,
}

fn run(input: &[u8], split_seed: u8, limit: usize) -> Run {
    let mut reader = FrameReader::with_limit(limit);
    let mut frames = Vec::new();
    let mut rest = input;
    let mut step = split_seed as usize;
    let mut max_held = 0;
    while !rest.is_empty() {
        // 0 means "all at once"; otherwise a varying chunk size.
        let len = if split_seed == 0 { rest.len() } else { 1 + step % 17 };
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        step = step.wrapping_mul(31).wrapping_add(7);
        reader.push(chunk);
        while let Some(frame) = reader.next_frame() {
            frames.push(frame);
        }
        max_held = max_held.max(reader.held_bytes());
        assert!(reader.pending().len() <= limit + chunk.len());
    }
    Run {
        frames,
        work: reader.work(),
        max_held,
    }
}

/// Whether `id` occurs in `input` as a whole member value: after `:` and
/// whitespace, and followed by whitespace and `,` or `}` (or `:`, which
/// lightningd's tokenizer also takes after a value).
fn sent_whole(input: &[u8], id: &[u8]) -> bool {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    (0..input.len()).any(|i| {
        input[i..].starts_with(id)
            && input[..i].iter().rev().find(|b| !ws(b)) == Some(&b':')
            && matches!(
                input[i + id.len()..].iter().find(|b| !ws(b)),
                Some(b',' | b'}' | b':')
            )
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    for limit in LIMITS {
        let whole = run(input, 0, limit);
        let split = run(input, seed, limit);
        assert_eq!(objects(&whole.frames), objects(&split.frames));
        let replies = answered(&whole.frames);
        assert_eq!(replies, answered(&split.frames));
        for id in &replies {
            assert!(sent_whole(input, id.as_bytes()), "answered {id}, not sent whole");
        }
        assert_eq!(whole.frames, reference::frames(input, limit));
        for got in [&whole, &split] {
            assert!(got.work <= 5 * input.len() as u64 + 8, "{} steps", got.work);
            assert!(got.max_held <= 8 * (limit.min(input.len()) + input.len()) + 4096);
        }
        for frame in &split.frames {
            match frame {
                Frame::Object(message) => assert!(message.bytes.len() <= limit),
                Frame::Oversized { len, .. } => assert!(*len > limit as u64),
                _ => {}
            }
        }
    }

    let serde: Result<Vec<&RawValue>, _> = serde_json::Deserializer::from_slice(input)
        .into_iter::<&RawValue>()
        .collect();
    if let Ok(values) = serde {
        let limit = LIMITS[1];
        if values
            .iter()
            .all(|v| v.get().starts_with('{') && v.get().len() <= limit)
        {
            let got = run(input, 0, limit).frames;
            let expected: Vec<&[u8]> = values.iter().map(|v| v.get().as_bytes()).collect();
            assert_eq!(objects(&got), expected);
            assert_eq!(got.len(), expected.len());
        }
    }
});
