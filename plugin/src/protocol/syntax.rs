//! An incremental JSON syntax checker for one top-level object.
//!
//! The framer feeds it one byte at a time and learns, as early as they can
//! be known: where the object ends, the first byte at which the input stops
//! being JSON, and where the top-level `"id"` member's value lies. Finding the
//! end by counting braces alone is not enough: a stray `{` would then swallow
//! every message after it. The checker follows RFC 8259's grammar as strictly
//! as `serde_json` does, except for the contents of strings (UTF-8 and `\u`
//! surrogates), which `serde_json` still checks when the message is parsed.
//!
//! Its state survives between reads, so a large message arriving in many
//! small reads is checked once. Its memory is bounded by the input it has
//! seen: one bit per open bracket ([`BitStack`]) and, while the framer keeps
//! the object, four bytes per open object (each needs at least four bytes of
//! input, `{"":`). Nesting is capped at `max_depth` levels, which the framer
//! sets to the message limit, so even an oversized object that is checked
//! without being kept cannot grow the stack past that.

mod bits;
mod id;

pub use bits::BitStack;
pub use id::IdSpan;
use id::IdTracker;

/// What one byte did to the object being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The object goes on.
    More,
    /// This byte closed the top-level object.
    End,
    /// This byte cannot continue a JSON object; why.
    Invalid(&'static str),
}

/// What the checker expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Just after `{`: a key or `}`.
    KeyOrClose,
    /// After a `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// Just after `[`: a value or `]`.
    ValueOrClose,
    /// After `:`, or a `,` in an array: a value.
    Value,
    /// After a value in a container: `,` or the closing bracket.
    CommaOrClose,
    /// Inside a string; `key` says whether a `:` must follow it.
    Str { key: bool },
    /// Just after a `\` in a string.
    Escape { key: bool },
    /// Inside `\uXXXX`, with `left` hex digits to go.
    Hex { key: bool, left: u8 },
    /// Inside a number.
    Number(Num),
    /// Inside `true`, `false` or `null`: the bytes still to come.
    Literal(&'static [u8]),
}

/// Where in `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

impl Num {
    /// Whether the number may end here.
    fn complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::Exp)
    }
}

/// The checker. [`Syntax::start`] it on an object's `{`, then
/// [`Syntax::step`] every following byte. Positions are offsets in the
/// whole stream, so they survive the framer dropping bytes it has handed
/// out.
#[derive(Debug, Clone)]
pub struct Syntax {
    expect: Expect,
    /// Open containers, innermost last: `true` for an object.
    kinds: BitStack,
    /// Where the open objects below the top-level one start, as offsets
    /// from it (innermost last), while `keep_positions`: the framer needs
    /// them to resynchronise after bad input.
    objects: Vec<u32>,
    keep_positions: bool,
    /// Where the top-level `{` is.
    start: u64,
    /// Deeper nesting than this is invalid.
    max_depth: usize,
    id: IdTracker,
}

impl Syntax {
    /// A checker that refuses nesting deeper than `max_depth` levels.
    pub fn new(max_depth: usize) -> Self {
        Self {
            expect: Expect::KeyOrClose,
            kinds: BitStack::default(),
            objects: Vec::new(),
            keep_positions: true,
            start: 0,
            max_depth: max_depth.max(1),
            id: IdTracker::default(),
        }
    }

    /// Starts checking a new top-level object whose `{` is at `at`.
    /// `keep_positions` says whether to remember where the open objects
    /// start (for [`Syntax::open_objects`]); offsets from `at` must then
    /// fit in a `u32`.
    pub fn start(&mut self, at: u64, keep_positions: bool) {
        self.expect = Expect::KeyOrClose;
        self.kinds.clear();
        self.kinds.push(true);
        self.objects.clear();
        self.keep_positions = keep_positions;
        self.start = at;
        self.id = IdTracker::default();
    }

    /// Stops remembering where open objects start, and frees that memory
    /// (the framer no longer keeps the bytes, so it cannot resync into
    /// them).
    pub fn forget_positions(&mut self) {
        self.keep_positions = false;
        self.objects = Vec::new();
    }

    /// Where the open objects below the top-level one start, outermost
    /// first, as offsets from the top-level `{`. Empty unless positions are
    /// kept.
    pub fn open_objects(&self) -> &[u32] {
        &self.objects
    }

    /// Hands over [`Syntax::open_objects`], leaving the checker without
    /// them (after the object went bad, when the checker is done with it).
    pub fn take_open_objects(&mut self) -> Vec<u32> {
        let mut objects = std::mem::take(&mut self.objects);
        objects.shrink_to_fit();
        objects
    }

    /// The top-level `"id"` member's value, as far as it is known.
    pub fn id(&self) -> IdSpan {
        self.id.span()
    }

    /// Bytes of memory the checker holds (its stacks), for bounds checks.
    pub fn held_bytes(&self) -> usize {
        self.kinds.held_bytes() + self.objects.capacity() * std::mem::size_of::<u32>()
    }

    fn depth(&self) -> usize {
        self.kinds.len()
    }

    /// How many of `bytes` [`Syntax::step`] would accept without changing
    /// state (the inside of a string): the framer skips them in one go. A
    /// top-level key short enough to be `"id"` is stepped byte by byte, so
    /// that the checker can tell.
    pub fn plain_run(&self, bytes: &[u8]) -> usize {
        match self.expect {
            Expect::Str { key: true } if self.depth() == 1 && self.id.reading_key() => 0,
            Expect::Str { .. } => bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(bytes.len()),
            _ => 0,
        }
    }

    /// Checks the byte `b`, found at position `at` of the stream.
    pub fn step(&mut self, b: u8, at: u64) -> Step {
        use Expect::*;
        if let Str { key: true } | Escape { key: true } | Hex { key: true, .. } = self.expect {
            if self.depth() == 1 && !(self.expect == Str { key: true } && b == b'"') {
                self.id.key_byte(b);
            }
        }
        match self.expect {
            Str { key } => match b {
                b'"' => self.after_string(key, at),
                b'\\' => self.go(Escape { key }),
                0x00..=0x1f => Step::Invalid("raw control character in a string"),
                _ => Step::More,
            },
            Escape { key } => match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.go(Str { key }),
                b'u' => self.go(Hex { key, left: 4 }),
                _ => Step::Invalid("invalid escape in a string"),
            },
            Hex { key, left } if b.is_ascii_hexdigit() => match left {
                1 => self.go(Str { key }),
                _ => self.go(Hex {
                    key,
                    left: left - 1,
                }),
            },
            Hex { .. } => Step::Invalid("invalid \\u escape in a string"),
            Number(num) => self.number(num, b, at),
            Literal(rest) if b == rest[0] => match &rest[1..] {
                [] => self.after_value(at + 1),
                rest => self.go(Literal(rest)),
            },
            Literal(_) => Step::Invalid("invalid literal (expected true, false or null)"),
            _ if matches!(b, b' ' | b'\t' | b'\n' | b'\r') => Step::More,
            KeyOrClose | Key => match b {
                b'"' => {
                    if self.depth() == 1 {
                        self.id.key_starts();
                    }
                    self.go(Str { key: true })
                }
                b'}' if self.expect == KeyOrClose => self.close(true, at),
                _ => Step::Invalid("expected a string key"),
            },
            Colon => match b {
                b':' => self.go(Value),
                _ => Step::Invalid("expected `:` after a key"),
            },
            ValueOrClose if b == b']' => self.close(false, at),
            ValueOrClose | Value => self.value(b, at),
            CommaOrClose => match b {
                b',' => {
                    if self.depth() == 1 {
                        self.id.delimiter();
                    }
                    let in_object = self.kinds.last() == Some(true);
                    self.go(if in_object { Key } else { Value })
                }
                b'}' => self.close(true, at),
                b']' => self.close(false, at),
                _ => Step::Invalid("expected `,` or a closing bracket"),
            },
        }
    }

    fn go(&mut self, next: Expect) -> Step {
        self.expect = next;
        Step::More
    }

    fn value(&mut self, b: u8, at: u64) -> Step {
        use Expect::*;
        if self.depth() == 1 {
            self.id.value_starts(at);
        }
        match b {
            b'{' | b'[' => {
                if self.depth() >= self.max_depth {
                    return Step::Invalid("nested deeper than the message limit allows");
                }
                let object = b == b'{';
                self.kinds.push(object);
                if object && self.keep_positions {
                    let offset = u32::try_from(at - self.start)
                        .expect("positions are kept only for objects under 4 GiB");
                    self.objects.push(offset);
                }
                self.go(if object { KeyOrClose } else { ValueOrClose })
            }
            b'"' => self.go(Str { key: false }),
            b'-' => self.go(Number(Num::Minus)),
            b'0' => self.go(Number(Num::Zero)),
            b'1'..=b'9' => self.go(Number(Num::Int)),
            b't' => self.go(Literal(b"rue")),
            b'f' => self.go(Literal(b"alse")),
            b'n' => self.go(Literal(b"ull")),
            _ => Step::Invalid("expected a value"),
        }
    }

    fn number(&mut self, num: Num, b: u8, at: u64) -> Step {
        let next = match (num, b) {
            (Num::Minus, b'0') => Num::Zero,
            (Num::Minus | Num::Int, b'0'..=b'9') => Num::Int,
            (Num::Zero | Num::Int, b'.') => Num::Dot,
            (Num::Dot | Num::Frac, b'0'..=b'9') => Num::Frac,
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Num::E,
            (Num::E, b'+' | b'-') => Num::ESign,
            (Num::E | Num::ESign | Num::Exp, b'0'..=b'9') => Num::Exp,
            // A number ends at the first byte that cannot continue it,
            // which must then be read as what follows a value.
            (num, _) if num.complete() => {
                self.after_value(at);
                return self.step(b, at);
            }
            _ => return Step::Invalid("invalid number"),
        };
        self.go(Expect::Number(next))
    }

    fn after_string(&mut self, key: bool, at: u64) -> Step {
        if key {
            if self.depth() == 1 {
                self.id.key_ends();
            }
            self.go(Expect::Colon)
        } else {
            self.after_value(at + 1)
        }
    }

    /// A value ended just before `end`.
    fn after_value(&mut self, end: u64) -> Step {
        if self.depth() == 1 {
            self.id.value_ends(end);
        }
        self.go(Expect::CommaOrClose)
    }

    fn close(&mut self, object: bool, at: u64) -> Step {
        if self.kinds.last() != Some(object) {
            return Step::Invalid("mismatched closing bracket");
        }
        if self.depth() == 1 {
            self.id.delimiter();
        }
        self.kinds.pop();
        if object && self.keep_positions && !self.kinds.is_empty() {
            self.objects.pop();
        }
        if self.kinds.is_empty() {
            Step::End
        } else {
            self.after_value(at + 1)
        }
    }
}

/// The raw text of the top-level `id` member of `object` (bytes starting
/// with `{`), if the checker sees it whole (followed by its `,` or `}`)
/// before the object ends, goes bad or is cut off.
pub fn find_id(object: &[u8]) -> Option<&[u8]> {
    if object.first() != Some(&b'{') {
        return None;
    }
    let mut syntax = Syntax::new(object.len());
    syntax.start(0, false);
    let mut at = 1;
    while at < object.len() {
        at += syntax.plain_run(&object[at..]);
        if at == object.len() || syntax.step(object[at], at as u64) != Step::More {
            break;
        }
        at += 1;
    }
    match syntax.id() {
        IdSpan::Whole { start, end } => Some(&object[start as usize..end as usize]),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
