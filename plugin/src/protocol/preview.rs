//! Log lines, bounded, and short excerpts of input to put in them.
//!
//! Whatever lightningd (or anything else) writes to us, a log line about it
//! stays short. There is one limit, [`MAX_LOG_LINE`], and one helper that
//! enforces it, [`bounded`]: [`Output::log`](super::writer::Output::log),
//! the only way a log line is written, passes every line through it, so
//! method names, notification topics, option values, `init`'s errors and
//! `getinfo`'s errors are all cut the same way, and so is anything a
//! [`Handler`](super::Handler) logs. Error replies that quote what a client
//! or the socket sent (an unknown method, `init`'s params, `getinfo`'s
//! error) are cut by the same helper. [`preview`] quotes a piece of input
//! inside a line: a fifth of a line, so that a line can quote a few.

/// The longest log line, in bytes of its message (the `message` lightningd
/// puts in its log after `plugin-<name>: `).
pub const MAX_LOG_LINE: usize = 1000;

/// How much of a value [`preview`] quotes.
pub const PREVIEW_BYTES: usize = MAX_LOG_LINE / 5;

/// `text` if it is at most [`MAX_LOG_LINE`] bytes; else its head, cut at a
/// character boundary, and its full length, in [`MAX_LOG_LINE`] bytes.
pub fn bounded(text: impl Into<String>) -> String {
    let mut text = text.into();
    if text.len() <= MAX_LOG_LINE {
        return text;
    }
    let tail = format!("... ({} bytes)", text.len());
    let mut cut = MAX_LOG_LINE - tail.len();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&tail);
    text
}

/// The first [`PREVIEW_BYTES`] of `bytes`, quoted and escaped, with the
/// full length when that is more.
pub fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(PREVIEW_BYTES)];
    let text = String::from_utf8_lossy(shown);
    if bytes.len() > PREVIEW_BYTES {
        format!("{text:?}... ({} bytes)", bytes.len())
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_shown_whole_and_escaped() {
        assert_eq!(preview(b"a\n\"b\""), r#""a\n\"b\"""#);
    }

    #[test]
    fn long_values_are_cut_and_counted() {
        let shown = preview(&[b'x'; 10 << 20]);
        assert!(shown.len() < PREVIEW_BYTES + 40, "{shown}");
        assert!(shown.ends_with("... (10485760 bytes)"), "{shown}");
    }

    #[test]
    fn a_line_at_the_limit_is_kept_whole() {
        let line = "l".repeat(MAX_LOG_LINE);
        assert_eq!(bounded(line.clone()), line);
    }

    #[test]
    fn a_longer_line_is_cut_to_the_limit_with_its_length() {
        let cut = bounded("l".repeat(10 << 20));
        assert_eq!(cut.len(), MAX_LOG_LINE);
        assert!(cut.ends_with("... (10485760 bytes)"), "{cut}");
    }

    #[test]
    fn a_line_is_cut_at_a_character_boundary() {
        for pad in 0..4 {
            let line = "x".repeat(pad) + &"€".repeat(MAX_LOG_LINE);
            let cut = bounded(line);
            assert!(cut.len() <= MAX_LOG_LINE, "{}", cut.len());
            assert!(cut.ends_with(&format!("... ({} bytes)", pad + 3 * MAX_LOG_LINE)));
        }
    }
}
