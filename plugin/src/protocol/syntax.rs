//! An incremental JSON syntax checker for one top-level object.
//!
//! The framer feeds it one byte at a time and learns two things as early as
//! they can be known: where the object ends, and the first byte at which the
//! input stops being JSON. Finding the end by counting braces alone is not
//! enough: a stray `{` would then swallow every message after it. The checker
//! follows RFC 8259's grammar as strictly as `serde_json` does, except for
//! the contents of strings (UTF-8 and `\u` surrogates), which `serde_json`
//! still checks when the message is parsed.
//!
//! Its state survives between reads, so a large message arriving in many
//! small reads is checked once.

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
/// [`Syntax::step`] every following byte.
#[derive(Debug, Clone)]
pub struct Syntax {
    expect: Expect,
    /// Open containers, innermost last: `true` for an object. Paired with
    /// where each one started, so the framer knows which `{` are still open
    /// when the input goes bad.
    open: Vec<(bool, usize)>,
}

impl Default for Syntax {
    fn default() -> Self {
        Self {
            expect: Expect::KeyOrClose,
            open: Vec::new(),
        }
    }
}

impl Syntax {
    /// Starts checking a new top-level object whose `{` is at `at`.
    pub fn start(&mut self, at: usize) {
        self.expect = Expect::KeyOrClose;
        self.open.clear();
        self.open.push((true, at));
    }

    /// Where the objects still open start (the top-level one first).
    pub fn open_objects(&self) -> impl Iterator<Item = usize> + '_ {
        self.open.iter().filter(|(obj, _)| *obj).map(|(_, at)| *at)
    }

    /// Moves every remembered position back by `by` (the framer dropped
    /// that many bytes before them).
    pub fn shift(&mut self, by: usize) {
        for (_, at) in &mut self.open {
            *at -= by;
        }
    }

    /// How many of `bytes` [`Syntax::step`] would accept without changing
    /// state (the inside of a string): the framer skips them in one go.
    pub fn plain_run(&self, bytes: &[u8]) -> usize {
        if !matches!(self.expect, Expect::Str { .. }) {
            return 0;
        }
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(bytes.len())
    }

    /// Checks the byte `b`, found at position `at` of the stream.
    pub fn step(&mut self, b: u8, at: usize) -> Step {
        use Expect::*;
        match self.expect {
            Str { key } => match b {
                b'"' => self.after_string(key),
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
                [] => self.after_value(),
                rest => self.go(Literal(rest)),
            },
            Literal(_) => Step::Invalid("invalid literal (expected true, false or null)"),
            _ if matches!(b, b' ' | b'\t' | b'\n' | b'\r') => Step::More,
            KeyOrClose | Key => match b {
                b'"' => self.go(Str { key: true }),
                b'}' if self.expect == KeyOrClose => self.close(true),
                _ => Step::Invalid("expected a string key"),
            },
            Colon => match b {
                b':' => self.go(Value),
                _ => Step::Invalid("expected `:` after a key"),
            },
            ValueOrClose if b == b']' => self.close(false),
            ValueOrClose | Value => self.value(b, at),
            CommaOrClose => match b {
                b',' => {
                    let in_object = self.open.last().is_some_and(|(obj, _)| *obj);
                    self.go(if in_object { Key } else { Value })
                }
                b'}' => self.close(true),
                b']' => self.close(false),
                _ => Step::Invalid("expected `,` or a closing bracket"),
            },
        }
    }

    fn go(&mut self, next: Expect) -> Step {
        self.expect = next;
        Step::More
    }

    fn value(&mut self, b: u8, at: usize) -> Step {
        use Expect::*;
        match b {
            b'{' | b'[' => {
                self.open.push((b == b'{', at));
                self.go(if b == b'{' { KeyOrClose } else { ValueOrClose })
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

    fn number(&mut self, num: Num, b: u8, at: usize) -> Step {
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
                self.after_value();
                return self.step(b, at);
            }
            _ => return Step::Invalid("invalid number"),
        };
        self.go(Expect::Number(next))
    }

    fn after_string(&mut self, key: bool) -> Step {
        if key {
            self.go(Expect::Colon)
        } else {
            self.after_value()
        }
    }

    fn after_value(&mut self) -> Step {
        self.go(Expect::CommaOrClose)
    }

    fn close(&mut self, object: bool) -> Step {
        match self.open.pop() {
            Some((obj, _)) if obj == object => {}
            _ => return Step::Invalid("mismatched closing bracket"),
        }
        if self.open.is_empty() {
            Step::End
        } else {
            self.after_value()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Runs the checker over `text` (which must start with `{`): the
    /// position where it ended or failed.
    fn check(text: &str) -> (usize, Step) {
        let bytes = text.as_bytes();
        let mut syntax = Syntax::default();
        syntax.start(0);
        for (at, &b) in bytes.iter().enumerate().skip(1) {
            match syntax.step(b, at) {
                Step::More => {}
                other => return (at, other),
            }
        }
        (bytes.len(), Step::More)
    }

    #[rstest]
    #[case::empty("{}")]
    #[case::all_kinds(r#"{"a":[1,-0.5,2e10,1E-3,0,true,false,null,"s",{},[]]}"#)]
    #[case::whitespace(" {\n\t\"a\" :\r\n [ 1 , 2 ] }")]
    #[case::escapes(r#"{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}"#)]
    #[case::numbers_end_at_brackets(r#"{"a":[1],"b":1}"#)]
    #[case::deep(r#"{"a":[[[[[[[[[[{"b":[[[]]]}]]]]]]]]]]}"#)]
    fn valid_objects_end_at_their_last_byte(#[case] text: &str) {
        let text = text.trim_start();
        assert_eq!(check(text), (text.len() - 1, Step::End), "{text}");
        serde_json::from_str::<serde_json::Value>(text).expect("the case is valid JSON");
    }

    #[rstest]
    #[case::bare_word("{this", 1)]
    #[case::trailing_comma(r#"{"a":1,}"#, 7)]
    #[case::leading_zero(r#"{"a":01}"#, 6)]
    #[case::bare_dot(r#"{"a":1.}"#, 7)]
    #[case::single_quotes("{'a':1}", 1)]
    #[case::raw_newline_in_string("{\"a\":\"x\ny\"}", 7)]
    #[case::bad_escape(r#"{"a":"\x"}"#, 7)]
    #[case::short_unicode_escape(r#"{"a":"\u12"}"#, 10)]
    #[case::mismatched(r#"{"a":[}"#, 6)]
    #[case::missing_colon(r#"{"a" 1}"#, 5)]
    #[case::literal_typo(r#"{"a":nul}"#, 8)]
    #[case::two_values(r#"{"a":1 2}"#, 7)]
    fn invalid_input_fails_at_the_first_bad_byte(#[case] text: &str, #[case] at: usize) {
        let (pos, step) = check(text);
        assert!(matches!(step, Step::Invalid(_)), "{text}: {step:?}");
        assert_eq!(pos, at, "{text}");
        assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
    }

    #[test]
    fn open_objects_are_reported_with_their_positions() {
        let mut syntax = Syntax::default();
        syntax.start(0);
        for (at, b) in r#"{"a":[{"b":{}},{"#.bytes().enumerate().skip(1) {
            assert_eq!(syntax.step(b, at), Step::More);
        }
        assert_eq!(syntax.open_objects().collect::<Vec<_>>(), vec![0, 15]);
    }
}
