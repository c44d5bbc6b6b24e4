//! Where reading resumes after a broken object, in linear time.
//!
//! A broken object is cut at the first `{` after its start that is not one
//! of its open objects: an open object would fail at the same bad byte,
//! since the checker's state inside it is the same whether it started there
//! or further out. When that resync point lies before the bad byte (a `{`
//! inside one of its strings, or an object it had closed), reading goes on
//! from there and may reach the broken object's open objects again, after
//! its strings are read as structure. Checking each of them again would
//! cost the distance to the bad byte every time: `{"a":` followed by many
//! `{"{}":` took seconds for a few hundred kilobytes. So the broken object
//! is remembered as a [`Memo`] until reading passes its bad byte, and an
//! open object of it is answered from the memo.
//!
//! Why that is enough for linear time: two checks that start at different
//! places and are both still valid read every later `"` as an opening or
//! closing quote alike, so they agree or disagree on what is inside a
//! string everywhere both are valid (a `\` outside a string is invalid, so
//! it cannot make them drift). A check that starts at a `{` the memo saw
//! outside any string is the memo's own check from there on: it either
//! closes where the memo closed it (a message, consumed) or is one of the
//! memo's open objects (answered from the memo). So a check that costs
//! anything starts inside the memo's strings, and reads those as
//! structure; no third check can disagree with both, so every byte is
//! checked at most twice, plus the bytes each frame consumes.

/// A broken object, remembered until reading passes its bad byte.
#[derive(Debug)]
pub struct Memo {
    start: u64,
    bad: u64,
    reason: &'static str,
    /// Its open objects at the bad byte, as offsets from `start`, outermost
    /// (lowest) first.
    open: Vec<u32>,
}

impl Memo {
    /// The object at `start` went bad at `bad` for `reason`, with `open`
    /// objects (offsets from `start`, ascending) still open.
    pub fn new(start: u64, bad: u64, reason: &'static str, open: Vec<u32>) -> Self {
        Self {
            start,
            bad,
            reason,
            open,
        }
    }

    /// Where it went bad.
    pub fn bad(&self) -> u64 {
        self.bad
    }

    /// Why it went bad.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Whether a check starting at `at` could still reach one of its open
    /// objects.
    pub fn alive_at(&self, at: u64) -> bool {
        at < self.bad
    }

    /// Whether `at` lies inside it, before its bad byte.
    pub fn covers(&self, at: u64) -> bool {
        self.start < at && at < self.bad
    }

    /// Whether `at` is one of its open objects (and before its bad byte).
    pub fn has_open_object(&self, at: u64) -> bool {
        if at <= self.start || at >= self.bad {
            return false;
        }
        u32::try_from(at - self.start).is_ok_and(|offset| self.open.binary_search(&offset).is_ok())
    }

    /// Its open objects after `at`, as stream offsets, ascending.
    pub fn open_after(&self, at: u64) -> impl Iterator<Item = u64> + '_ {
        let from = self
            .open
            .partition_point(|&offset| self.start + u64::from(offset) <= at);
        self.open[from..]
            .iter()
            .map(|&offset| self.start + u64::from(offset))
    }

    /// Bytes of memory held.
    pub fn held_bytes(&self) -> usize {
        self.open.capacity() * std::mem::size_of::<u32>()
    }
}

/// Where to resume after the object at `origin` went bad at `bad`: the
/// first `{` after `origin` that is not one of its `open` objects (stream
/// offsets, ascending, all after `origin`), or the end of the input so far.
/// `buf` holds the stream from offset `base`; `work` counts bytes looked at.
pub fn resume_point(
    buf: &[u8],
    base: u64,
    origin: u64,
    open: impl Iterator<Item = u64>,
    bad: u64,
    work: &mut u64,
) -> u64 {
    let mut open = open.peekable();
    let mut from = origin + 1;
    loop {
        let (next, scanned) = next_brace(buf, base, from);
        *work += scanned;
        while open.next_if(|&o| o < next).is_some() {}
        if next < bad && open.peek() == Some(&next) {
            from = next + 1;
            continue;
        }
        return next;
    }
}

/// The first `{` at or after stream offset `from` in `buf` (which starts at
/// offset `base`), or the end of `buf`; and how many bytes were looked at.
pub fn next_brace(buf: &[u8], base: u64, from: u64) -> (u64, u64) {
    let rest = &buf[(from - base) as usize..];
    match rest.iter().position(|&b| b == b'{') {
        Some(i) => (from + i as u64, i as u64 + 1),
        None => (from + rest.len() as u64, rest.len() as u64),
    }
}
