//! Bad input in the log: one line per run of it, not one per piece.
//!
//! 128 KiB of `{` are 131 072 broken objects; logging each would put
//! 131 072 lines into the node's log. Consecutive input that gets neither
//! a reply nor served (garbage between messages, broken or oversized
//! objects without a usable id, objects that are not valid notifications)
//! is counted instead, and summed up in one line, with a preview of its
//! first piece, when the run ends: before the next message that is served
//! or answered, and when the plugin stops.

use super::preview::preview;

/// The run of unanswerable input since the last message that was served
/// or answered.
#[derive(Debug, Default)]
pub struct GarbageRun {
    pieces: u64,
    bytes: u64,
    /// What the first piece was, and a preview of it.
    first: Option<(String, String)>,
}

impl GarbageRun {
    /// Adds one piece of `len` bytes starting with `shown`; `what` says
    /// what was wrong with it (only asked for the first piece).
    pub fn add(&mut self, len: u64, shown: &[u8], what: impl FnOnce() -> String) {
        if self.first.is_none() {
            self.first = Some((what(), preview(shown)));
        }
        self.pieces += 1;
        self.bytes += len;
    }

    /// The run's log line, if there was a run; starts a new one.
    pub fn take_summary(&mut self) -> Option<String> {
        let (what, shown) = self.first.take()?;
        let (pieces, bytes) = (self.pieces, self.bytes);
        *self = Self::default();
        Some(if pieces == 1 {
            format!("dropped {bytes} bytes that could not be answered: {what}: {shown}")
        } else {
            format!(
                "dropped {bytes} bytes in {pieces} pieces that could not be answered; \
                 the first: {what}: {shown}"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_run_no_line() {
        assert_eq!(GarbageRun::default().take_summary(), None);
    }

    #[test]
    fn one_piece_is_described_whole() {
        let mut run = GarbageRun::default();
        run.add(4, b"oops", || "not a JSON object".into());
        assert_eq!(
            run.take_summary().as_deref(),
            Some(r#"dropped 4 bytes that could not be answered: not a JSON object: "oops""#)
        );
        assert_eq!(run.take_summary(), None, "the run was not reset");
    }

    #[test]
    fn many_pieces_make_one_line_about_the_first() {
        let mut run = GarbageRun::default();
        run.add(1, b"{", || "first".into());
        for _ in 1..131_072 {
            run.add(1, b"{", || {
                unreachable!("only the first piece is described")
            });
        }
        assert_eq!(
            run.take_summary().as_deref(),
            Some(
                "dropped 131072 bytes in 131072 pieces that could not be answered; \
                 the first: first: \"{\""
            )
        );
    }
}
