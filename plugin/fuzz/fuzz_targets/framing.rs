//! Fuzzes framing plus message parsing. The input's first byte seeds where
//! reads are split; the rest is the stream. Checked on every input:
//! - the objects that come out do not depend on where reads split;
//! - if serde_json reads the whole stream as a sequence of objects, the
//!   framer cuts exactly those;
//! - nothing panics, and the reader never holds more than the limit plus
//!   one read;
//! - every frame can be turned into a message or a rejection.

#![no_main]

use libfuzzer_sys::fuzz_target;
use myplugin::protocol::framing::{Frame, FrameReader};
use myplugin::protocol::messages::{Incoming, Rejected};
use serde_json::value::RawValue;

const LIMIT: usize = 4096;

fn run(input: &[u8], split_seed: u8) -> Vec<Frame> {
    let mut reader = FrameReader::with_limit(LIMIT);
    let mut frames = Vec::new();
    let mut rest = input;
    let mut step = split_seed as usize;
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
        assert!(reader.pending().len() <= LIMIT + 17 + chunk.len());
    }
    frames
}

fn objects(frames: &[Frame]) -> Vec<&[u8]> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Object(b) => Some(b.as_slice()),
            _ => None,
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = run(input, 0);
    let split = run(input, seed);
    assert_eq!(objects(&whole), objects(&split));

    let serde: Result<Vec<&RawValue>, _> =
        serde_json::Deserializer::from_slice(input).into_iter::<&RawValue>().collect();
    if let Ok(values) = serde {
        if values.iter().all(|v| v.get().starts_with('{') && v.get().len() <= LIMIT) {
            let expected: Vec<&[u8]> = values.iter().map(|v| v.get().as_bytes()).collect();
            assert_eq!(objects(&whole), expected);
            assert_eq!(whole.len(), expected.len());
        }
    }

    for frame in split {
        match frame {
            Frame::Object(bytes) => drop(Incoming::parse(&bytes)),
            Frame::Broken { bytes, .. } => drop(Rejected::parse_error(&bytes, "fuzz")),
            Frame::Oversized { head, limit } => drop(Rejected::oversized(&head, limit)),
            Frame::Garbage(_) => {}
        }
    }
});
