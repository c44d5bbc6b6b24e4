//! Short excerpts of input for log lines.
//!
//! Whatever lightningd (or anything else) writes to us, a log line about it
//! stays short: a 10 MiB param becomes 200 bytes and a count, never a
//! 10 MiB line in the node's log.

/// How much of a value goes into a log line.
pub const PREVIEW_BYTES: usize = 200;

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
}
