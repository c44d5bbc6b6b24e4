//! Cutting lightningd's byte stream into messages.
//!
//! lightningd separates messages with `\n\n`, but that is a courtesy, not a
//! contract: RPC passthrough requests carry the client's raw bytes, which may
//! hold newlines and even blank lines between tokens. So, like lightningd's
//! own reader, we never look for separators: a message is a top-level JSON
//! object, and [`Syntax`] tells where it ends.
//!
//! Bad input must never cost the messages after it:
//! - bytes before a `{` that cannot start a message are [`Frame::Garbage`];
//! - an object that stops being JSON is [`Frame::Broken`], cut just before the
//!   next `{` that can start a message, where reading resumes. That is the
//!   first `{` after the broken one's start that is not one of its own open
//!   objects (those would fail at the same byte again), so `"x{" {...}` and a
//!   stray `{` followed by requests both recover;
//! - an object that grows past `limit` bytes is [`Frame::Oversized`]: its
//!   head is kept for the reply, the rest is checked but not stored, so
//!   memory stays bounded even if it never ends.
//!
//! Where reads split the stream never changes which objects come out.

use super::syntax::{Step, Syntax};

/// The largest message kept whole. lightningd sends multi-megabyte messages
/// (large PSBTs, passthrough params); 64 MiB leaves a wide margin.
pub const MAX_MESSAGE: usize = 64 << 20;

/// How much of an oversized message is kept, to find its id and log it.
const OVERSIZED_HEAD: usize = 4096;

/// One item cut out of the input stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One complete top-level `{...}`, syntactically valid.
    Object(Vec<u8>),
    /// Bytes between messages that cannot start one.
    Garbage(Vec<u8>),
    /// An object that is not valid JSON, up to where reading resumes.
    Broken {
        bytes: Vec<u8>,
        /// Why, and at which byte of `bytes`.
        reason: &'static str,
        at: usize,
    },
    /// An object longer than the limit: its first bytes only.
    Oversized { head: Vec<u8>, limit: usize },
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

/// Incremental splitter: [`push`](Self::push) bytes as they arrive, then
/// call [`next_frame`](Self::next_frame) until it returns `None`.
#[derive(Debug)]
pub struct FrameReader {
    /// Bytes not yet handed out; `buf[..start]` is dead and dropped on the
    /// next push.
    buf: Vec<u8>,
    /// Where the current object (or the unexamined input) starts.
    start: usize,
    /// Next byte to examine.
    pos: usize,
    mode: Mode,
    syntax: Syntax,
    limit: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::with_limit(MAX_MESSAGE)
    }
}

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader that treats objects over `limit` bytes as oversized.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            pos: 0,
            mode: Mode::Between,
            syntax: Syntax::default(),
            limit,
        }
    }

    /// Appends bytes read from stdin.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.pos -= self.start;
            self.shift_syntax(self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held for a message that is not complete yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Returns the next frame, or `None` if more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match self.mode {
                Mode::Between => {
                    let skip = self.buf[self.pos..]
                        .iter()
                        .position(|b| !b.is_ascii_whitespace());
                    let Some(skip) = skip else {
                        self.start = self.buf.len();
                        self.pos = self.start;
                        return None;
                    };
                    self.start = self.pos + skip;
                    if self.buf[self.start] != b'{' {
                        let end = self.next_brace(self.start);
                        return Some(Frame::Garbage(self.take(end)));
                    }
                    self.syntax.start(self.start);
                    self.pos = self.start + 1;
                    self.mode = Mode::Object;
                }
                Mode::Object => return self.scan_object(),
                Mode::Discard => {
                    self.scan_discarded();
                    if self.mode == Mode::Discard {
                        return None;
                    }
                }
            }
        }
    }

    /// Continues checking the object at `start`.
    fn scan_object(&mut self) -> Option<Frame> {
        let stop = self.buf.len().min(self.start + self.limit);
        while let Some((at, step)) = self.next_structural(stop) {
            match step {
                Step::More => {}
                Step::End => {
                    self.mode = Mode::Between;
                    return Some(Frame::Object(self.take(self.pos)));
                }
                Step::Invalid(reason) => {
                    let resume = self.resync_point(at);
                    self.mode = Mode::Between;
                    let offset = at - self.start;
                    let bytes = self.take(resume);
                    return Some(Frame::Broken {
                        at: offset.min(bytes.len()),
                        bytes,
                        reason,
                    });
                }
            }
        }
        if self.pos - self.start < self.limit {
            return None;
        }
        // Too big to keep: hand out its head, drop the rest as it comes.
        let head_end = self.start + OVERSIZED_HEAD.min(self.limit);
        let head = self.buf[self.start..head_end].to_vec();
        self.start = self.pos;
        self.mode = Mode::Discard;
        Some(Frame::Oversized {
            head,
            limit: self.limit,
        })
    }

    /// Skips plain bytes (string contents, digits) up to `stop` in one go,
    /// then feeds the syntax checker the next byte: its offset and verdict,
    /// or `None` when `stop` came first. Both scanners' inner loop.
    #[inline]
    fn next_structural(&mut self, stop: usize) -> Option<(usize, Step)> {
        if self.pos >= stop {
            return None;
        }
        self.pos += self.syntax.plain_run(&self.buf[self.pos..stop]);
        if self.pos == stop {
            return None;
        }
        let at = self.pos;
        self.pos += 1;
        Some((at, self.syntax.step(self.buf[at], at)))
    }

    /// Checks, without keeping, the rest of an oversized object.
    fn scan_discarded(&mut self) {
        while let Some((at, step)) = self.next_structural(self.buf.len()) {
            match step {
                Step::More => {}
                Step::End => {
                    self.mode = Mode::Between;
                    break;
                }
                Step::Invalid(_) => {
                    // Its start is gone; resume at the bad byte itself.
                    self.pos = at;
                    self.mode = Mode::Between;
                    break;
                }
            }
        }
        self.start = self.pos;
    }

    /// Where to resume after the object at `start` went bad at `bad`: the
    /// first `{` after `start` that is not one of its still-open objects,
    /// or the end of the input so far.
    fn resync_point(&self, bad: usize) -> usize {
        let mut open = self.syntax.open_objects().skip(1).peekable();
        let mut from = self.start + 1;
        loop {
            let next = self.next_brace(from);
            while open.next_if(|&o| o < next).is_some() {}
            if next < bad && open.peek() == Some(&next) {
                from = next + 1;
                continue;
            }
            return next;
        }
    }

    /// Position of the first `{` at or after `from`, or the end of input.
    fn next_brace(&self, from: usize) -> usize {
        self.buf[from..]
            .iter()
            .position(|&b| b == b'{')
            .map_or(self.buf.len(), |i| from + i)
    }

    /// Takes `buf[start..end]` out; reading resumes at `end`.
    fn take(&mut self, end: usize) -> Vec<u8> {
        let bytes = self.buf[self.start..end].to_vec();
        self.start = end;
        self.pos = end;
        bytes
    }

    /// Keeps the checker's remembered positions in step with `buf` after
    /// its first `by` bytes were dropped.
    fn shift_syntax(&mut self, by: usize) {
        if self.mode == Mode::Object {
            self.syntax.shift(by);
        }
    }
}

#[cfg(test)]
mod tests;
