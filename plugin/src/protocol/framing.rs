//! Cutting lightningd's byte stream into messages.
//!
//! lightningd separates messages with `\n\n`, but that is a courtesy, not a
//! contract: RPC passthrough requests carry the client's raw bytes, which may
//! hold newlines and even blank lines between tokens. So, like lightningd's
//! own reader, we never look for separators: a message is a top-level JSON
//! object, and [`Syntax`] tells where it ends.
//!
//! Bad input must never cost the messages after it, nor more than linear
//! time, nor memory past a small multiple of the message limit:
//! - bytes before a `{` that cannot start a message are [`Frame::Garbage`];
//! - an object that stops being JSON is [`Frame::Broken`], cut just before the
//!   next `{` that can start a message, where reading resumes. That is the
//!   first `{` after the broken one's start that is not one of its own open
//!   objects (those would fail at the same byte again), so `"x{" {...}` and a
//!   stray `{` followed by requests both recover. Its open objects are
//!   remembered ([`resync`]) until reading passes the bad byte: reaching one
//!   of them again (after a resync point inside a string) is answered from
//!   memory instead of checking the same bytes again, which is what keeps
//!   resync linear;
//! - an object that grows past `limit` bytes is [`Frame::Oversized`]: the
//!   rest is checked but not stored, so memory stays bounded even if it
//!   never ends, and the frame comes out when the object ends, with its id
//!   if the id was anywhere in it (pyln-client writes `params` before `id`).
//!
//! Broken and oversized frames carry the top-level id only when the syntax
//! checker saw it whole (see [`super::syntax::IdSpan`]), so no reply ever
//! goes to a shortened id. Where reads split the stream never changes the
//! objects that come out, nor which ids are answered.

mod resync;

use super::syntax::{IdSpan, Step, Syntax};
use resync::Memo;

/// The largest message kept whole. lightningd sends multi-megabyte messages
/// (large PSBTs, passthrough params); 64 MiB leaves a wide margin.
pub const MAX_MESSAGE: usize = 64 << 20;

/// How much of an oversized message is kept for the log.
const OVERSIZED_HEAD: usize = 256;

/// The longest id kept from an oversized message. lightningd's ids are a
/// few dozen bytes; a longer one in a message we cannot keep is dropped.
pub const MAX_KEPT_ID: usize = 64 << 10;

/// One item cut out of the input stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One complete top-level `{...}`, syntactically valid.
    Object(Vec<u8>),
    /// A complete `{...}` that began inside a broken object, before its bad
    /// byte: a message that the broken one swallowed (serve it if it is a
    /// valid message), or a piece of the broken one (then it gets no reply,
    /// whatever id it holds).
    Inner(Vec<u8>),
    /// Bytes between messages that cannot start one.
    Garbage(Vec<u8>),
    /// An object that is not valid JSON, up to where reading resumes.
    Broken {
        /// The object's bytes, from its `{` to the resync point.
        bytes: Vec<u8>,
        /// Why it is not JSON.
        reason: &'static str,
        /// At which byte of `bytes` (clamped to its length when the resync
        /// point comes first).
        at: usize,
        /// The raw text of its top-level id, if it was whole before the bad
        /// byte. Never set for an object that began inside an earlier
        /// broken one.
        id: Option<Vec<u8>>,
    },
    /// An object longer than the limit, once it ended (or went bad).
    Oversized {
        /// Its first bytes, for the log.
        head: Vec<u8>,
        /// Its length, up to its last byte (or its bad byte, which is read
        /// again as the start of what follows).
        len: u64,
        /// The raw text of its top-level id, if it was whole (and the object
        /// did not begin inside a broken one).
        id: Option<Vec<u8>>,
        /// The limit it broke.
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between messages: skipping whitespace, looking for `{`.
    Between,
    /// Inside the object starting at `start`.
    Object,
    /// Inside an oversized object whose bytes are no longer kept.
    Discard,
}

/// What is kept of an oversized object while the rest of it is checked.
#[derive(Debug)]
struct Discarded {
    start: u64,
    head: Vec<u8>,
    /// The id's bytes copied so far, up to stream offset `id_to`.
    id: Vec<u8>,
    id_to: u64,
    id_too_long: bool,
}

/// Incremental splitter: [`push`](Self::push) bytes as they arrive, then
/// call [`next_frame`](Self::next_frame) until it returns `None`.
///
/// Positions are offsets in the whole stream; `buf` holds the stream from
/// offset `base` on, and everything before `start` is dead (dropped on the
/// next push).
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    base: u64,
    /// Where the current object (or the unexamined input) starts.
    start: u64,
    /// Next byte to examine.
    pos: u64,
    mode: Mode,
    syntax: Syntax,
    limit: usize,
    /// Broken objects whose bad byte reading has not passed yet.
    memos: Vec<Memo>,
    /// Whether the object being checked began inside one of them.
    inside_broken: bool,
    discarded: Option<Discarded>,
    /// Bytes examined so far, counting re-examinations.
    work: u64,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::with_limit(MAX_MESSAGE)
    }
}

impl FrameReader {
    /// A reader with the [`MAX_MESSAGE`] limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader that treats objects over `limit` bytes (at most 4 GiB) as
    /// oversized.
    pub fn with_limit(limit: usize) -> Self {
        assert!(
            u32::try_from(limit).is_ok(),
            "the message limit must fit in 32 bits"
        );
        let limit = limit.max(1);
        Self {
            buf: Vec::new(),
            base: 0,
            start: 0,
            pos: 0,
            mode: Mode::Between,
            // A message of `limit` bytes cannot nest deeper than that.
            syntax: Syntax::new(limit),
            limit,
            memos: Vec::new(),
            inside_broken: false,
            discarded: None,
            work: 0,
        }
    }

    /// Appends bytes read from stdin.
    pub fn push(&mut self, bytes: &[u8]) {
        let dead = self.idx(self.start);
        if dead > 0 {
            self.buf.drain(..dead);
            self.base = self.start;
        }
        // Don't keep a large buffer around after a large message.
        let needed = self.buf.len() + bytes.len();
        if self.buf.capacity() > 1 << 20 && needed < self.buf.capacity() / 4 {
            self.buf.shrink_to(needed.max(64 << 10));
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held for a message that is not complete yet (of an oversized
    /// one, only the bytes of the last read).
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.idx(self.start)..]
    }

    /// If an oversized message is being skipped: how many of its bytes have
    /// been read so far.
    pub fn skipping_oversized(&self) -> Option<u64> {
        self.discarded.as_ref().map(|d| self.pos - d.start)
    }

    /// Bytes of memory held (buffer, checker stacks, remembered broken
    /// objects), for bounds checks.
    pub fn held_bytes(&self) -> usize {
        let discarded = self
            .discarded
            .as_ref()
            .map_or(0, |d| d.head.capacity() + d.id.capacity());
        self.buf.capacity()
            + self.syntax.held_bytes()
            + self.memos.iter().map(Memo::held_bytes).sum::<usize>()
            + discarded
    }

    /// Bytes examined so far, re-examinations included: linear in the
    /// input, whatever the input (checked by the property tests).
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Returns the next frame, or `None` if more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match self.mode {
                Mode::Between => {
                    let from = self.idx(self.pos);
                    let skip = self.buf[from..]
                        .iter()
                        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
                    self.work += skip.map_or(self.buf.len() - from, |s| s + 1) as u64;
                    let Some(skip) = skip else {
                        self.start = self.end();
                        self.pos = self.start;
                        return None;
                    };
                    self.start = self.pos + skip as u64;
                    if self.buf[self.idx(self.start)] != b'{' {
                        let end = self.next_brace(self.start);
                        return Some(Frame::Garbage(self.take(end)));
                    }
                    let at = self.start;
                    self.memos.retain(|m| m.alive_at(at));
                    if let Some(frame) = self.inner_of_broken() {
                        return Some(frame);
                    }
                    self.inside_broken = self.memos.iter().any(|m| m.covers(at));
                    self.syntax.start(self.start, true);
                    self.pos = self.start + 1;
                    self.mode = Mode::Object;
                }
                Mode::Object => {
                    if let Some(frame) = self.scan_object() {
                        return Some(frame);
                    }
                    if self.mode == Mode::Object {
                        return None;
                    }
                }
                Mode::Discard => {
                    if let Some(frame) = self.scan_discarded() {
                        return Some(frame);
                    }
                    if self.mode == Mode::Discard {
                        return None;
                    }
                }
            }
        }
    }

    /// Continues checking the object at `start`.
    fn scan_object(&mut self) -> Option<Frame> {
        let stop = self.end().min(self.start + self.limit as u64);
        while let Some((at, step)) = self.next_structural(stop) {
            match step {
                Step::More => {}
                Step::End => {
                    self.mode = Mode::Between;
                    let bytes = self.take(self.pos);
                    return Some(if self.inside_broken {
                        Frame::Inner(bytes)
                    } else {
                        Frame::Object(bytes)
                    });
                }
                Step::Invalid(reason) => return Some(self.broken(at, reason)),
            }
        }
        if self.pos - self.start >= self.limit as u64 {
            self.start_discarding();
        }
        None
    }

    /// The object at `start` went bad at `bad`: cut it at the resync point,
    /// and remember its open objects if reading resumes before `bad`.
    fn broken(&mut self, bad: u64, reason: &'static str) -> Frame {
        let id = match self.syntax.id() {
            IdSpan::Whole { start, end } if !self.inside_broken => {
                Some(self.buf[self.idx(start)..self.idx(end)].to_vec())
            }
            _ => None,
        };
        let memo = Memo::new(self.start, bad, reason, self.syntax.take_open_objects());
        let resume = resync::resume_point(
            &self.buf,
            self.base,
            self.start,
            memo.open_after(self.start),
            bad,
            &mut self.work,
        );
        if resume < bad {
            self.memos.push(memo);
        }
        self.mode = Mode::Between;
        let offset = (bad - self.start) as usize;
        let bytes = self.take(resume);
        Frame::Broken {
            at: offset.min(bytes.len()),
            bytes,
            reason,
            id,
        }
    }

    /// If the `{` at `start` is an open object of a broken object whose bad
    /// byte lies ahead, it fails at that same byte: its frame, without
    /// checking it again. It gets no id, since it is part of a message that
    /// started earlier.
    fn inner_of_broken(&mut self) -> Option<Frame> {
        let at = self.start;
        let memo = self.memos.iter().find(|m| m.has_open_object(at))?;
        let (bad, reason) = (memo.bad(), memo.reason());
        let resume = resync::resume_point(
            &self.buf,
            self.base,
            at,
            memo.open_after(at),
            bad,
            &mut self.work,
        );
        let bytes = self.take(resume);
        Some(Frame::Broken {
            at: ((bad - at) as usize).min(bytes.len()),
            bytes,
            reason,
            id: None,
        })
    }

    /// The object at `start` passed the limit: keep its head and its id,
    /// drop its bytes from now on.
    fn start_discarding(&mut self) {
        let from = self.idx(self.start);
        let head = self.buf[from..from + OVERSIZED_HEAD.min(self.limit)].to_vec();
        self.syntax.forget_positions();
        self.discarded = Some(Discarded {
            start: self.start,
            head,
            id: Vec::new(),
            id_to: 0,
            id_too_long: false,
        });
        self.capture_id();
        self.start = self.pos;
        self.mode = Mode::Discard;
    }

    /// Checks, without keeping, more of an oversized object; its frame
    /// once it ends or goes bad.
    fn scan_discarded(&mut self) -> Option<Frame> {
        let end = self.end();
        let mut last = None;
        while let Some((at, step)) = self.next_structural(end) {
            match step {
                Step::More => {}
                Step::End => {
                    last = Some(self.pos);
                    break;
                }
                Step::Invalid(_) => {
                    // Its start is gone; resume at the bad byte itself.
                    self.pos = at;
                    last = Some(at + 1);
                    break;
                }
            }
        }
        self.capture_id();
        self.start = self.pos;
        let last = last?;
        self.mode = Mode::Between;
        let d = self
            .discarded
            .take()
            .expect("discarding an oversized object");
        let id = matches!(self.syntax.id(), IdSpan::Whole { .. })
            && !d.id_too_long
            && !self.inside_broken;
        Some(Frame::Oversized {
            head: d.head,
            len: last - d.start,
            id: id.then_some(d.id),
            limit: self.limit,
        })
    }

    /// Copies the part of the oversized object's id that is still in
    /// `buf`, before it is dropped.
    fn capture_id(&mut self) {
        let (start, end) = match self.syntax.id() {
            IdSpan::Partial { start, end } => (start, end.unwrap_or(self.pos)),
            IdSpan::Whole { start, end } => (start, end),
            IdSpan::None | IdSpan::Ambiguous => return,
        };
        let (base, pos) = (self.base, self.pos);
        let Some(d) = &mut self.discarded else {
            return;
        };
        let (from, to) = (start.max(d.id_to), end.min(pos));
        if to <= from || d.id_too_long {
            return;
        }
        if d.id.len() + (to - from) as usize > MAX_KEPT_ID {
            d.id_too_long = true;
            d.id = Vec::new();
            return;
        }
        d.id.extend_from_slice(&self.buf[(from - base) as usize..(to - base) as usize]);
        d.id_to = to;
    }

    /// Skips plain bytes (string contents) up to `stop` in one go, then
    /// feeds the syntax checker the next byte: its offset and verdict, or
    /// `None` when `stop` came first. Both scanners' inner loop.
    #[inline]
    fn next_structural(&mut self, stop: u64) -> Option<(u64, Step)> {
        if self.pos >= stop {
            return None;
        }
        let run = self
            .syntax
            .plain_run(&self.buf[self.idx(self.pos)..self.idx(stop)]);
        self.work += run as u64 + 1;
        self.pos += run as u64;
        if self.pos == stop {
            return None;
        }
        let at = self.pos;
        self.pos += 1;
        Some((at, self.syntax.step(self.buf[self.idx(at)], at)))
    }

    /// Position of the first `{` at or after `from`, or the end of input.
    fn next_brace(&mut self, from: u64) -> u64 {
        let (at, scanned) = resync::next_brace(&self.buf, self.base, from);
        self.work += scanned;
        at
    }

    /// Takes `start..end` out; reading resumes at `end`.
    fn take(&mut self, end: u64) -> Vec<u8> {
        let bytes = self.buf[self.idx(self.start)..self.idx(end)].to_vec();
        self.start = end;
        self.pos = end;
        bytes
    }

    /// The stream offset just past the last byte read.
    fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    fn idx(&self, at: u64) -> usize {
        (at - self.base) as usize
    }
}

#[cfg(test)]
mod tests;
