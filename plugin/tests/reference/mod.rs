//! A slow framer written straight from the rules in `framing.rs`, to check
//! the fast one against (by the property tests and the fuzz target).
//!
//! It gets the whole input at once, steps the checker over every byte (no
//! skipping of string contents), and keeps everything it has read; ids come
//! from the whole input rather than from copies made between reads.

#![allow(dead_code)]

use myplugin::protocol::framing::{Frame, Message};
use myplugin::protocol::lightningd_json::{Checker, Field, Span, Step};

fn whole_id(input: &[u8], checker: &Checker) -> Option<Vec<u8>> {
    match checker.member(Field::Id) {
        Span::Whole { start, end } => Some(input[start as usize..end as usize].to_vec()),
        _ => None,
    }
}

/// Where reading resumes after a bad byte: at it if it may start a
/// message, else after it.
fn resume_after(input: &[u8], bad: usize) -> usize {
    if matches!(input[bad], b'{' | b'[') {
        bad
    } else {
        bad + 1
    }
}

/// The frames of `input` given whole, with values over `limit` bytes
/// oversized: what the fast framer must produce for the same input.
pub fn frames(input: &[u8], limit: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while pos < input.len() && matches!(input[pos], b' ' | b'\t' | b'\n' | b'\r') {
            pos += 1;
        }
        if pos == input.len() {
            return out;
        }
        if !matches!(input[pos], b'{' | b'[') {
            let end = (pos..input.len())
                .find(|&q| matches!(input[q], b'{' | b'['))
                .unwrap_or(input.len());
            out.push(Frame::Garbage(input[pos..end].to_vec()));
            pos = end;
            continue;
        }
        let start = pos;
        let object = input[start] == b'{';
        let mut checker = Checker::new(limit.max(1));
        checker.start();
        let mut at = start;
        let outcome = loop {
            if at == input.len() {
                return out;
            }
            match checker.step(input[at], at as u64) {
                Step::More => at += 1,
                other => break other,
            }
        };
        let end = at + 1;
        if end - start > limit.max(1) {
            let resume = match outcome {
                Step::Invalid(_) => resume_after(input, at),
                _ => end,
            };
            let id = whole_id(input, &checker).filter(|id| object && id.len() <= limit.max(1));
            out.push(Frame::Oversized {
                head: input[start..start + limit.clamp(1, 256)].to_vec(),
                len: (end - start) as u64,
                id,
                limit: limit.max(1),
            });
            pos = resume;
            continue;
        }
        match outcome {
            Step::End if object => {
                out.push(Frame::Object(
                    Message::read(&input[start..end]).expect("a whole object"),
                ));
                pos = end;
            }
            Step::End => {
                out.push(Frame::Garbage(input[start..end].to_vec()));
                pos = end;
            }
            Step::Invalid(reason) => {
                let resume = resume_after(input, at).max(start + 1);
                out.push(Frame::Broken {
                    bytes: input[start..resume].to_vec(),
                    reason,
                    at: (at - start).min(resume - start),
                    id: whole_id(input, &checker).filter(|_| object),
                });
                pos = resume;
            }
            Step::More => unreachable!(),
        }
    }
}
