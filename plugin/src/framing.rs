//! Splitting lightningd's byte stream into JSON messages.
//!
//! lightningd separates messages with `\n\n`, but that is a courtesy, not a
//! contract: RPC passthrough requests carry the client's raw bytes, which may
//! contain newlines and even blank lines between tokens. So, like lightningd's
//! own reader, we never look for separators: we find where each top-level JSON
//! object *ends* by scanning its braces (outside strings) and hand out the
//! bytes of every complete object. Several objects in one read, one object
//! spread over many reads, and any whitespace between objects all work.
//!
//! The scanner only finds boundaries; `serde_json` does the real parsing. The
//! scan is resumable, so a large message arriving in many small reads is
//! scanned once, not once per read.

/// One item cut out of the input stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// The bytes of one complete top-level `{...}` (not yet validated).
    Object(Vec<u8>),
    /// Bytes that cannot start or continue a JSON object; they were dropped so
    /// that the next message can be read. Carried for the error log.
    Garbage(Vec<u8>),
}

/// Incremental splitter: `push` bytes as they arrive, then call `next_frame`
/// until it returns `None` (which means: wait for more input).
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    scan: Scan,
}

/// Where the scan of the object at the front of `buf` stopped.
#[derive(Debug, Default, Clone, Copy)]
struct Scan {
    pos: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from stdin.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet handed out (an incomplete message, or
    /// whitespace). Useful to report what was cut off at EOF.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Returns the next complete frame, or `None` if more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.scan.pos == 0 {
            let start = self.buf.iter().position(|b| !b.is_ascii_whitespace());
            match start {
                None => {
                    self.buf.clear();
                    return None;
                }
                Some(0) => {}
                Some(n) => {
                    self.buf.drain(..n);
                }
            }
            if self.buf[0] != b'{' {
                // Not the start of an object: drop everything up to the next
                // `{`, which is where the next message can begin.
                let end = self
                    .buf
                    .iter()
                    .position(|&b| b == b'{')
                    .unwrap_or(self.buf.len());
                return Some(Frame::Garbage(self.buf.drain(..end).collect()));
            }
        }
        self.scan_object()
    }

    /// Continues scanning the object that starts at `buf[0]`.
    fn scan_object(&mut self) -> Option<Frame> {
        let mut s = self.scan;
        while s.pos < self.buf.len() {
            let b = self.buf[s.pos];
            s.pos += 1;
            if s.in_string {
                match b {
                    _ if s.escaped => s.escaped = false,
                    b'\\' => s.escaped = true,
                    b'"' => s.in_string = false,
                    // JSON strings cannot hold raw control characters. Seeing
                    // one means this object is broken (e.g. an unterminated
                    // string): give up on it here rather than swallow the
                    // messages that follow.
                    0x00..=0x1f => return Some(self.cut(s.pos - 1, true)),
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => s.in_string = true,
                b'{' | b'[' => s.depth += 1,
                b'}' | b']' => {
                    s.depth = s.depth.saturating_sub(1);
                    if s.depth == 0 {
                        return Some(self.cut(s.pos, false));
                    }
                }
                _ => {}
            }
        }
        self.scan = s;
        None
    }

    /// Takes `buf[..end]` out as a frame and resets the scan.
    fn cut(&mut self, end: usize, garbage: bool) -> Frame {
        self.scan = Scan::default();
        let bytes: Vec<u8> = self.buf.drain(..end).collect();
        if garbage {
            Frame::Garbage(bytes)
        } else {
            Frame::Object(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn frames(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut reader = FrameReader::new();
        let mut out = Vec::new();
        for chunk in chunks {
            reader.push(chunk);
            while let Some(frame) = reader.next_frame() {
                out.push(frame);
            }
        }
        out
    }

    fn obj(s: &str) -> Frame {
        Frame::Object(s.as_bytes().to_vec())
    }

    fn garbage(s: &str) -> Frame {
        Frame::Garbage(s.as_bytes().to_vec())
    }

    #[rstest]
    #[case::one_message(&["{\"a\":1}\n\n"], vec![obj("{\"a\":1}")])]
    #[case::glued_without_separator(&["{\"a\":1}{\"b\":2}"], vec![obj("{\"a\":1}"), obj("{\"b\":2}")])]
    #[case::two_in_one_read(&["{\"a\":1}\n\n{\"b\":2}\n\n"], vec![obj("{\"a\":1}"), obj("{\"b\":2}")])]
    #[case::split_mid_string(&["{\"a\":\"hel", "lo\"}\n\n"], vec![obj("{\"a\":\"hello\"}")])]
    #[case::split_byte_by_byte(&["{", "\"", "a", "\"", ":", "[", "]", "}"], vec![obj("{\"a\":[]}")])]
    #[case::leading_whitespace(&[" \r\n\t {\"a\":1}"], vec![obj("{\"a\":1}")])]
    #[case::raw_newlines_and_blank_lines_between_tokens(
        &["{ \"id\" : 1,\n\n \"params\" :[ \"x\" ]\n}\n\n"],
        vec![obj("{ \"id\" : 1,\n\n \"params\" :[ \"x\" ]\n}")]
    )]
    #[case::braces_inside_strings(&["{\"a\":\"}{][\"}"], vec![obj("{\"a\":\"}{][\"}")])]
    #[case::escaped_quote_and_backslash(&["{\"a\":\"\\\"}\\\\\"}"], vec![obj("{\"a\":\"\\\"}\\\\\"}")])]
    #[case::escape_split_across_reads(&["{\"a\":\"\\", "\"}\"}"], vec![obj("{\"a\":\"\\\"}\"}")])]
    #[case::nested(&["{\"a\":{\"b\":[{\"c\":{}}]}}"], vec![obj("{\"a\":{\"b\":[{\"c\":{}}]}}")])]
    #[case::garbage_then_message(&["not json\n\n{\"a\":1}"], vec![garbage("not json\n\n"), obj("{\"a\":1}")])]
    #[case::array_is_not_a_message(&["[1,2]\n\n{\"a\":1}"], vec![garbage("[1,2]\n\n"), obj("{\"a\":1}")])]
    #[case::unterminated_string_does_not_swallow_next(
        &["{\"a\":\"oops\n\n{\"b\":2}\n\n"],
        vec![garbage("{\"a\":\"oops"), obj("{\"b\":2}")]
    )]
    #[case::incomplete_waits(&["{\"a\":"], vec![])]
    #[case::whitespace_only(&["\n\n  \n"], vec![])]
    fn splits(#[case] chunks: &[&str], #[case] expected: Vec<Frame>) {
        let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
        assert_eq!(frames(&chunks), expected);
    }

    #[test]
    fn balanced_but_invalid_json_is_still_one_frame() {
        // Validation is serde_json's job; the splitter must only keep the
        // boundary right so the next message survives.
        assert_eq!(
            frames(&[b"{\"a\": oops}\n\n{\"b\":2}"]),
            vec![obj("{\"a\": oops}"), obj("{\"b\":2}")]
        );
    }

    #[test]
    fn large_message_in_small_chunks() {
        let big = format!("{{\"s\":\"{}\"}}", "x".repeat(300_000));
        let chunks: Vec<&[u8]> = big.as_bytes().chunks(4096).collect();
        assert_eq!(frames(&chunks), vec![obj(&big)]);
    }

    #[test]
    fn pending_keeps_an_incomplete_message() {
        let mut reader = FrameReader::new();
        reader.push(b"{\"a\":1}\n\n{\"b\":");
        assert_eq!(reader.next_frame(), Some(obj("{\"a\":1}")));
        assert_eq!(reader.next_frame(), None);
        assert_eq!(reader.pending(), b"{\"b\":");
    }
}
