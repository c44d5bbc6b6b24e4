//! A slow framer written straight from the rules in `framing.rs`, to check
//! the fast one against (by the property tests and the fuzz target).
//!
//! It gets the whole input at once, checks every candidate `{` from scratch
//! one byte at a time (no skipping of string contents, no memo: a `{` that
//! is an open object of an earlier broken object is checked again, and must
//! fail at the same byte), and keeps everything it has read. So it is
//! quadratic where the fast framer is linear, and only fit for small
//! inputs.

#![allow(dead_code)]

use myplugin::protocol::framing::{Frame, MAX_KEPT_ID};
use myplugin::protocol::syntax::{IdSpan, Step, Syntax};

/// How one check from a `{` ended.
enum Outcome {
    /// The object ended at this byte.
    End(usize),
    /// The object went bad at `bad`, with these objects open.
    Bad {
        bad: usize,
        reason: &'static str,
        open: Vec<usize>,
        id: Option<Vec<u8>>,
    },
    /// The input ended first.
    Incomplete,
}

/// Checks the object at `start`, byte by byte, up to `stop`.
fn check(input: &[u8], start: usize, stop: usize, limit: usize) -> (Outcome, Syntax, usize) {
    let mut syntax = Syntax::new(limit);
    syntax.start(start as u64, true);
    let mut at = start + 1;
    while at < stop {
        match syntax.step(input[at], at as u64) {
            Step::More => at += 1,
            Step::End => return (Outcome::End(at), syntax, at + 1),
            Step::Invalid(reason) => {
                let open = syntax
                    .open_objects()
                    .iter()
                    .map(|&o| start + o as usize)
                    .collect();
                let id = whole_id(input, &syntax);
                return (
                    Outcome::Bad {
                        bad: at,
                        reason,
                        open,
                        id,
                    },
                    syntax,
                    at,
                );
            }
        }
    }
    (Outcome::Incomplete, syntax, at)
}

fn whole_id(input: &[u8], syntax: &Syntax) -> Option<Vec<u8>> {
    match syntax.id() {
        IdSpan::Whole { start, end } => Some(input[start as usize..end as usize].to_vec()),
        _ => None,
    }
}

/// The first `{` after `origin` that is not in `open`, counting only open
/// objects before `bad`; or the end of the input.
fn resume_point(input: &[u8], origin: usize, open: &[usize], bad: usize) -> usize {
    (origin + 1..input.len())
        .find(|&q| input[q] == b'{' && !(q < bad && open.contains(&q)))
        .unwrap_or(input.len())
}

/// Anything that begins inside a broken object, before its bad byte, is a
/// piece of it or a message it swallowed: an object is [`Frame::Inner`],
/// and nothing gets the id of a broken or oversized piece.
///
/// The frames of `input` given whole, with objects over `limit` bytes
/// oversized: what the fast framer must produce for the same input.
pub fn frames(input: &[u8], limit: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    // Broken objects so far: (start, bad, reason, open objects).
    let mut broken: Vec<(usize, usize, &'static str, Vec<usize>)> = Vec::new();
    let mut pos = 0;
    loop {
        while pos < input.len() && matches!(input[pos], b' ' | b'\t' | b'\n' | b'\r') {
            pos += 1;
        }
        if pos == input.len() {
            return out;
        }
        if input[pos] != b'{' {
            let end = (pos..input.len())
                .find(|&q| input[q] == b'{')
                .unwrap_or(input.len());
            out.push(Frame::Garbage(input[pos..end].to_vec()));
            pos = end;
            continue;
        }
        let start = pos;
        let inside = broken
            .iter()
            .any(|(s, bad, _, _)| *s < start && start < *bad);
        let inner = broken
            .iter()
            .find(|(s, bad, _, open)| *s < start && start < *bad && open.contains(&start))
            .map(|(_, bad, reason, _)| (*bad, *reason));
        let stop = input.len().min(start + limit);
        let (outcome, mut syntax, mut at) = check(input, start, stop, limit);
        match outcome {
            Outcome::End(end) => {
                assert!(inner.is_none(), "an open object of a broken one ended");
                let bytes = input[start..=end].to_vec();
                out.push(if inside {
                    Frame::Inner(bytes)
                } else {
                    Frame::Object(bytes)
                });
                pos = end + 1;
            }
            Outcome::Bad {
                bad,
                reason,
                open,
                id,
            } => {
                if let Some(inner) = inner {
                    assert_eq!(inner, (bad, reason), "an open object failed elsewhere");
                }
                let resume = resume_point(input, start, &open, bad);
                out.push(Frame::Broken {
                    bytes: input[start..resume].to_vec(),
                    reason,
                    at: (bad - start).min(resume - start),
                    id: if inside { None } else { id },
                });
                if inner.is_none() {
                    broken.push((start, bad, reason, open));
                }
                pos = resume;
            }
            Outcome::Incomplete if stop == input.len() => return out,
            Outcome::Incomplete => {
                // Over the limit: check the rest without a limit.
                assert!(
                    inner.is_none(),
                    "an open object of a broken one is oversized"
                );
                let (end, resume) = loop {
                    if at == input.len() {
                        return out;
                    }
                    match syntax.step(input[at], at as u64) {
                        Step::More => at += 1,
                        Step::End => break (at + 1, at + 1),
                        // The bad byte counts, and is read again.
                        Step::Invalid(_) => break (at + 1, at),
                    }
                };
                let id = whole_id(input, &syntax).filter(|id| id.len() <= MAX_KEPT_ID && !inside);
                out.push(Frame::Oversized {
                    head: input[start..start + limit.min(256)].to_vec(),
                    len: (end - start) as u64,
                    id,
                    limit,
                });
                pos = resume;
            }
        }
    }
}
