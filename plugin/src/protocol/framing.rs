//! Cutting lightningd's byte stream into messages.
//!
//! lightningd separates messages with `\n\n`, but that is a courtesy, not a
//! contract: RPC passthrough requests carry the client's raw bytes, which may
//! hold newlines and blank lines between tokens and inside strings. So, like
//! lightningd's own reader, we never look for separators: a message is one
//! top-level value, and [`Checker`] (the rules, in `lightningd_json.rs`)
//! says where it ends, exactly where lightningd's tokenizer ends it. So
//! nothing inside a message is ever read as a message.
//!
//! Bytes lightningd never sends must still never cost the messages after
//! them, nor more than linear time, nor memory past a small multiple of the
//! message limit:
//! - bytes before a `{` or `[` are [`Frame::Garbage`], and so is a whole
//!   top-level array (lightningd sends only objects);
//! - a value that lightningd would refuse is [`Frame::Broken`] at its first
//!   bad byte; reading resumes at that byte if it is a `{` or `[` (a stray
//!   `{` before a message costs only itself), else just after it. Nothing
//!   before the bad byte is read again, so work stays linear;
//! - an object that grows past `limit` bytes is [`Frame::Oversized`]: the
//!   rest is checked but not stored, so memory stays bounded even if it
//!   never ends, and the frame comes out when the object ends, with its id
//!   if the id was anywhere in it (pyln-client writes `params` before `id`).
//!
//! Broken and oversized frames carry lightningd's id only when the checker
//! saw it whole, so no reply ever goes to a shortened id. Where reads split
//! the stream never changes the frames that come out.

use super::lightningd_json::{Checker, Field, Span, Step};

/// The largest message kept whole. lightningd sends multi-megabyte messages
/// (large PSBTs, passthrough params); 64 MiB leaves a wide margin.
pub const MAX_MESSAGE: usize = 64 << 20;

/// How much of an oversized message is kept for the log.
const OVERSIZED_HEAD: usize = 256;

/// A read buffer larger than this is given back once it is mostly empty,
/// down to [`KEEP_BUFFER`]: one large message does not keep its memory for
/// the rest of the run (issue 21, case 8).
const SHRINK_ABOVE: usize = 1 << 20;

/// What a shrunk read buffer keeps: one read's worth.
const KEEP_BUFFER: usize = 64 << 10;

/// One message: a complete top-level object as lightningd delimits it,
/// with where lightningd's members are in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its bytes, from `{` to `}`.
    pub bytes: Vec<u8>,
    /// Offsets in `bytes` of each [`Field`]'s value, when whole.
    spans: [Option<(usize, usize)>; 4],
}

impl Message {
    /// Reads `bytes` as one message, if they are exactly one object that
    /// lightningd would delimit so (for tests and one-off replies).
    pub fn read(bytes: &[u8]) -> Option<Message> {
        let mut reader = FrameReader::with_limit(bytes.len().max(1));
        reader.push(bytes);
        match reader.next_frame()? {
            Frame::Object(message) if message.bytes.len() == bytes.len() => Some(message),
            _ => None,
        }
    }

    /// The raw text of the value of the top-level member lightningd reads
    /// as `field` (the first whose raw key is its name), if any.
    pub fn member(&self, field: Field) -> Option<&[u8]> {
        self.spans[field as usize].map(|(start, end)| &self.bytes[start..end])
    }
}

/// One item cut out of the input stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One complete top-level object.
    Object(Message),
    /// Bytes between messages that cannot start one, or a whole top-level
    /// value that is not an object.
    Garbage(Vec<u8>),
    /// A value that lightningd would refuse, up to where reading resumes.
    Broken {
        /// Its bytes, from its first byte to the resync point.
        bytes: Vec<u8>,
        /// Why lightningd would refuse it.
        reason: &'static str,
        /// At which byte of `bytes` (clamped to its length).
        at: usize,
        /// The raw text of lightningd's id, if it was whole before the bad
        /// byte.
        id: Option<Vec<u8>>,
    },
    /// An object longer than the limit, once it ended (or went bad).
    Oversized {
        /// Its first bytes, for the log.
        head: Vec<u8>,
        /// Its length, up to its last byte (or its bad byte).
        len: u64,
        /// The raw text of lightningd's id, if it was whole (and no longer
        /// than the limit).
        id: Option<Vec<u8>>,
        /// The limit it broke.
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between messages: skipping whitespace, looking for `{` or `[`.
    Between,
    /// Inside the value starting at `start`.
    Value,
    /// Inside an oversized value whose bytes are no longer kept.
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
    /// Where the current value (or the unexamined input) starts.
    start: u64,
    /// Next byte to examine.
    pos: u64,
    mode: Mode,
    /// Whether the current value is an object.
    object: bool,
    checker: Checker,
    limit: usize,
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

    /// A reader that treats values over `limit` bytes as oversized.
    pub fn with_limit(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            buf: Vec::new(),
            base: 0,
            start: 0,
            pos: 0,
            mode: Mode::Between,
            object: false,
            // A message of `limit` bytes cannot nest deeper than that.
            checker: Checker::new(limit),
            limit,
            discarded: None,
            work: 0,
        }
    }

    /// Appends bytes read from stdin.
    pub fn push(&mut self, bytes: &[u8]) {
        self.compact(bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// Drops the bytes before `start` (read already), and gives back most
    /// of a large buffer that is mostly empty, keeping room for `more`.
    /// Done on every push and whenever [`next_frame`](Self::next_frame)
    /// needs more input, so the memory of a large message is given back as
    /// soon as it is out, not at the next read.
    fn compact(&mut self, more: usize) {
        let dead = self.idx(self.start);
        if dead > 0 {
            self.buf.drain(..dead);
            self.base = self.start;
        }
        let needed = self.buf.len() + more;
        if self.buf.capacity() > SHRINK_ABOVE && needed < self.buf.capacity() / 4 {
            self.buf.shrink_to(needed.max(KEEP_BUFFER));
        }
    }

    /// The current value is over: back to looking for the next one, with
    /// the checker's memory (its stack, which a deeply nested value grew)
    /// given back at once.
    fn value_over(&mut self) {
        self.mode = Mode::Between;
        self.checker.start();
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

    /// Bytes of memory held (buffer, checker stack, an oversized message's
    /// head and id), for bounds checks.
    pub fn held_bytes(&self) -> usize {
        let discarded = self
            .discarded
            .as_ref()
            .map_or(0, |d| d.head.capacity() + d.id.capacity());
        self.buf.capacity() + self.checker.held_bytes() + discarded
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
                        self.compact(0);
                        return None;
                    };
                    self.start = self.pos + skip as u64;
                    let first = self.buf[self.idx(self.start)];
                    if !matches!(first, b'{' | b'[') {
                        let end = self.next_opening(self.start);
                        return Some(Frame::Garbage(self.take(end)));
                    }
                    self.object = first == b'{';
                    self.checker.start();
                    self.pos = self.start;
                    self.mode = Mode::Value;
                }
                Mode::Value => {
                    if let Some(frame) = self.scan_value() {
                        return Some(frame);
                    }
                    if self.mode == Mode::Value {
                        self.compact(0);
                        return None;
                    }
                }
                Mode::Discard => {
                    if let Some(frame) = self.scan_discarded() {
                        return Some(frame);
                    }
                    if self.mode == Mode::Discard {
                        self.compact(0);
                        return None;
                    }
                }
            }
        }
    }

    /// Continues checking the value at `start`.
    fn scan_value(&mut self) -> Option<Frame> {
        let stop = self.end().min(self.start + self.limit as u64);
        while let Some((at, step)) = self.next_byte(stop) {
            match step {
                Step::More => {}
                Step::End => {
                    let spans = self.spans();
                    self.value_over();
                    let bytes = self.take(self.pos);
                    return Some(if self.object {
                        Frame::Object(Message { bytes, spans })
                    } else {
                        Frame::Garbage(bytes)
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

    /// Where each field's value is in the value at `start`, when whole.
    fn spans(&self) -> [Option<(usize, usize)>; 4] {
        [Field::Id, Field::Method, Field::Params, Field::Jsonrpc].map(|field| {
            match self.checker.member(field) {
                Span::Whole { start, end } if self.object => {
                    Some(((start - self.start) as usize, (end - self.start) as usize))
                }
                _ => None,
            }
        })
    }

    /// Where reading resumes after a bad byte at `bad`: at it if it may
    /// start a message, else after it.
    fn resume_after(&self, bad: u64) -> u64 {
        if matches!(self.buf[self.idx(bad)], b'{' | b'[') {
            bad
        } else {
            bad + 1
        }
    }

    /// The value at `start` went bad at `bad`.
    fn broken(&mut self, bad: u64, reason: &'static str) -> Frame {
        let id = match self.checker.member(Field::Id) {
            Span::Whole { start, end } if self.object => {
                Some(self.buf[self.idx(start)..self.idx(end)].to_vec())
            }
            _ => None,
        };
        self.value_over();
        let resume = self.resume_after(bad).max(self.start + 1);
        let offset = (bad - self.start) as usize;
        let bytes = self.take(resume);
        Frame::Broken {
            at: offset.min(bytes.len()),
            bytes,
            reason,
            id,
        }
    }

    /// The value at `start` passed the limit: keep its head and its id,
    /// drop its bytes from now on.
    fn start_discarding(&mut self) {
        let from = self.idx(self.start);
        let head = self.buf[from..from + OVERSIZED_HEAD.min(self.limit)].to_vec();
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

    /// Checks, without keeping, more of an oversized value; its frame once
    /// it ends or goes bad.
    fn scan_discarded(&mut self) -> Option<Frame> {
        let end = self.end();
        let mut last = None;
        while let Some((at, step)) = self.next_byte(end) {
            match step {
                Step::More => {}
                Step::End => {
                    last = Some(self.pos);
                    break;
                }
                Step::Invalid(_) => {
                    self.pos = self.resume_after(at);
                    last = Some(at + 1);
                    break;
                }
            }
        }
        self.capture_id();
        self.start = self.pos;
        let last = last?;
        let d = self
            .discarded
            .take()
            .expect("discarding an oversized value");
        let id = matches!(self.checker.member(Field::Id), Span::Whole { .. })
            && !d.id_too_long
            && self.object;
        self.value_over();
        Some(Frame::Oversized {
            head: d.head,
            len: last - d.start,
            id: id.then_some(d.id),
            limit: self.limit,
        })
    }

    /// Copies the part of the oversized value's id that is still in `buf`,
    /// before it is dropped. An id is kept up to the message limit itself:
    /// the client chooses its length (lightningd's id starts with theirs).
    fn capture_id(&mut self) {
        let (start, end) = match self.checker.member(Field::Id) {
            Span::Partial { start, end } => (start, end.unwrap_or(self.pos)),
            Span::Whole { start, end } => (start, end),
            Span::None => return,
        };
        let (base, pos, limit) = (self.base, self.pos, self.limit);
        let Some(d) = &mut self.discarded else {
            return;
        };
        let (from, to) = (start.max(d.id_to).max(base), end.min(pos));
        if to <= from || d.id_too_long {
            return;
        }
        if d.id.len() + (to - from) as usize > limit {
            d.id_too_long = true;
            d.id = Vec::new();
            return;
        }
        d.id.extend_from_slice(&self.buf[(from - base) as usize..(to - base) as usize]);
        d.id_to = to;
    }

    /// Skips plain bytes (string contents) up to `stop` in one go, then
    /// feeds the checker the next byte: its offset and verdict, or `None`
    /// when `stop` came first. Both scanners' inner loop.
    #[inline]
    fn next_byte(&mut self, stop: u64) -> Option<(u64, Step)> {
        if self.pos >= stop {
            return None;
        }
        let run = self
            .checker
            .plain_run(&self.buf[self.idx(self.pos)..self.idx(stop)]);
        self.work += run as u64 + 1;
        self.pos += run as u64;
        if self.pos == stop {
            return None;
        }
        let at = self.pos;
        self.pos += 1;
        Some((at, self.checker.step(self.buf[self.idx(at)], at)))
    }

    /// Position of the first `{` or `[` at or after `from`, or the end of
    /// input.
    fn next_opening(&mut self, from: u64) -> u64 {
        let rest = &self.buf[self.idx(from)..];
        let found = rest.iter().position(|&b| b == b'{' || b == b'[');
        self.work += found.map_or(rest.len(), |i| i + 1) as u64;
        from + found.unwrap_or(rest.len()) as u64
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
