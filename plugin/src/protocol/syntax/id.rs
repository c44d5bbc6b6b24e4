//! Following the top-level `"id"` member while an object is checked.
//!
//! A reply to a broken or oversized message must carry the id lightningd
//! sent, or none at all: lightningd kills a plugin (v23.02) or leaves the
//! caller hanging (later versions) when a reply names an id it does not
//! know. So the id is taken from what the checker has proven: a member of
//! the top-level object whose key is `id` (escapes decoded, as `serde_json`
//! decodes them), whose value is complete and followed by the `,` or `}`
//! that ends the member. An id cut off by a read, by the size limit or by
//! bad bytes is never "found", and two `id` members make the id ambiguous.

/// The longest raw key that can still spell `id` (`\u0069\u0064` is 12).
const MAX_ID_KEY: usize = 16;

/// Where the top-level id's value is, as far as the checker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSpan {
    /// No `"id"` member so far.
    None,
    /// The value starts at `start`; `end` is where it ended, once known,
    /// but nothing proves yet that the member ended there.
    Partial {
        /// Stream offset of the value's first byte.
        start: u64,
        /// Stream offset just past its last byte, once seen.
        end: Option<u64>,
    },
    /// The value is `start..end` and the member's `,` or `}` followed it.
    Whole {
        /// Stream offset of the value's first byte.
        start: u64,
        /// Stream offset just past its last byte.
        end: u64,
    },
    /// More than one `"id"` member: no id can be trusted.
    Ambiguous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    #[default]
    Unseen,
    /// The last top-level key was `id`; its value comes next.
    AfterKey,
    Value {
        start: u64,
    },
    Ended {
        start: u64,
        end: u64,
    },
    Whole {
        start: u64,
        end: u64,
    },
    Ambiguous,
}

/// The raw bytes of the top-level key being read.
#[derive(Debug, Clone, Copy, Default)]
struct Key {
    bytes: [u8; MAX_ID_KEY],
    len: usize,
    too_long: bool,
}

impl Key {
    fn is_id(&self) -> bool {
        if self.too_long {
            return false;
        }
        let raw = &self.bytes[..self.len];
        if raw == b"id" {
            return true;
        }
        if !raw.contains(&b'\\') {
            return false;
        }
        let mut quoted = Vec::with_capacity(raw.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(raw);
        quoted.push(b'"');
        serde_json::from_slice::<String>(&quoted).is_ok_and(|key| key == "id")
    }
}

/// The checker's record of the top-level id.
#[derive(Debug, Clone, Default)]
pub struct IdTracker {
    phase: Phase,
    key: Option<Key>,
}

impl IdTracker {
    /// Where the id is, as far as known.
    pub fn span(&self) -> IdSpan {
        match self.phase {
            Phase::Unseen | Phase::AfterKey => IdSpan::None,
            Phase::Value { start } => IdSpan::Partial { start, end: None },
            Phase::Ended { start, end } => IdSpan::Partial {
                start,
                end: Some(end),
            },
            Phase::Whole { start, end } => IdSpan::Whole { start, end },
            Phase::Ambiguous => IdSpan::Ambiguous,
        }
    }

    /// Whether a top-level key is being read that may still be `id`.
    pub fn reading_key(&self) -> bool {
        self.key.is_some_and(|k| !k.too_long)
    }

    /// A top-level key's opening quote.
    pub fn key_starts(&mut self) {
        self.key = Some(Key::default());
    }

    /// One raw byte inside the top-level key.
    pub fn key_byte(&mut self, b: u8) {
        if let Some(key) = &mut self.key {
            if key.len == MAX_ID_KEY {
                key.too_long = true;
            } else {
                key.bytes[key.len] = b;
                key.len += 1;
            }
        }
    }

    /// The top-level key's closing quote.
    pub fn key_ends(&mut self) {
        if self.key.take().is_some_and(|k| k.is_id()) {
            self.phase = match self.phase {
                Phase::Unseen => Phase::AfterKey,
                _ => Phase::Ambiguous,
            };
        }
    }

    /// A top-level value starts at `at`.
    pub fn value_starts(&mut self, at: u64) {
        if self.phase == Phase::AfterKey {
            self.phase = Phase::Value { start: at };
        }
    }

    /// The top-level value ended just before `end`.
    pub fn value_ends(&mut self, end: u64) {
        if let Phase::Value { start } = self.phase {
            self.phase = Phase::Ended { start, end };
        }
    }

    /// A `,` or `}` of the top-level object.
    pub fn delimiter(&mut self) {
        if let Phase::Ended { start, end } = self.phase {
            self.phase = Phase::Whole { start, end };
        }
    }
}
