//! The rules: where a message lightningd writes to a plugin ends, and which
//! of its members lightningd reads as the `id`, exactly as lightningd's own
//! reader decides them. Every other module takes these answers from here.
//!
//! # Why lightningd's rules and not JSON's
//!
//! A call of one of our methods reaches us as the client's own bytes, with
//! only the value of its first `id` member swapped for lightningd's id
//! (`json_stream_forward_change_id`, lightningd/plugin.c:1187-1207 in
//! v26.06.6, :1032-1053 in v23.02.2, called from `plugin_rpcmethod_dispatch`,
//! :1304-1346 and :1114-1153). lightningd accepted those bytes with
//! `json_parse_input` (common/json_parse_simple.c:493-535), which is jsmn
//! built with `-DJSMN_STRICT=1` (external/Makefile:87) plus
//! `validate_jsmn_parse_output` (:292-475) and a UTF-8 check of every
//! string. That accepts much that RFC 8259 does not: `[1 2]`, `[1,,2]`,
//! `[1,]`, `{"a":1,}`, `-Infinity`, `01`, `1.2.3`, `nan` (any run of
//! printable ASCII starting with `-`, a digit, `t`, `f` or `n` is a
//! "primitive", and may hold `{`, `[`, `"` and `:`), raw control bytes in
//! strings. A strict reader would see such a message end elsewhere, or take
//! the objects inside it for messages; so we delimit messages as jsmn does,
//! and leave strictness to the parser that reads the message afterwards.
//!
//! # The rules (jsmn: external/jsmn/jsmn.c at 18e9fe42, the same commit in
//! v23.02.2 and v26.06.6; validation: common/json_parse_simple.c, v26.06.6)
//!
//! jsmn builds a flat list of tokens, each attached to the current
//! "super" token (`toksuper`), whose `size` counts what was attached:
//! - `{` `[` open a container, attached to the super; it becomes the super
//!   (jsmn.c:164-181).
//! - `}` `]` close the innermost open container, which must be of the same
//!   kind; the next open one out becomes the super (:182-230, the
//!   `JSMN_PARENT_LINKS`-less branch :209-228).
//! - `"` starts a string, attached to the super, which stays (:231-237).
//!   Inside: `\` must be followed by one of `"/\bfrnt`, or `u` and four hex
//!   digits (:113-141); any other byte is taken as is (:84-146). A NUL ends
//!   jsmn's input (:93, :158): lightningd never sends one.
//! - `:` makes the last token created the super, whatever it is (:240-242).
//! - `,` makes the innermost open container the super, unless the super
//!   already is a container, open or not (:243-260).
//! - `-`, `0`-`9`, `t`, `f`, `n` start a primitive (:261-283): refused if
//!   the super is an object or a string that already has something attached
//!   (:266-273); it runs to whitespace, `,`, `]` or `}`, and every byte of
//!   it must be printable ASCII (:35-79).
//! - whitespace is skipped; any other byte is an error (:285-288).
//!
//! Then `validate_jsmn_datum` (:322-381) and `validate_jsmn_keyvalue`
//! (:383-415) walk the tree of sizes: a string or primitive used as a value
//! has nothing attached; an array's children are values; an object's
//! children are keys, each a string with exactly one value attached. Every
//! string must be UTF-8 (`utf8_check`, common/utils.c:173-189, used at
//! :326 and :400).
//!
//! We check all of it as bytes arrive, with memory for one bit per open
//! bracket: a token is judged when it is attached, which is when its place
//! in the tree is known, and a key when nothing can be attached to it any
//! more. A byte is [`Step::Invalid`] only when lightningd would refuse the
//! message whatever follows, so every message lightningd sends reads here
//! as one message, ending where lightningd's ended.
//!
//! # The id
//!
//! lightningd's id is the value of the first member of the top-level object
//! whose key's raw text (no unescaping) is `id` (`json_get_member`,
//! common/json_parse_simple.c:197-210, `json_tok_strneq` compares raw
//! bytes; lightningd/plugin.c:1322 for the forwarded call, and
//! `plugin_response_handle`, :669-694, matches our reply by that raw text).
//! So a second `id` member, or one spelt `"\u0069d"`, is just a member. The
//! same rule gives `method`, `params` and `jsonrpc` ([`Field`]). A member's
//! value is [`Span::Whole`] once it ended and nothing more can be attached
//! to its key; a reply is only ever addressed to a whole id.

mod bits;

pub use bits::BitStack;

/// What one byte did to the message being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The message goes on.
    More,
    /// This byte closed the top-level value.
    End,
    /// lightningd would refuse the message whatever follows; why.
    Invalid(&'static str),
}

/// The top-level members lightningd reads by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `id`: whom to answer.
    Id,
    /// `method`.
    Method,
    /// `params`.
    Params,
    /// `jsonrpc`.
    Jsonrpc,
}

impl Field {
    const ALL: [Field; 4] = [Field::Id, Field::Method, Field::Params, Field::Jsonrpc];

    fn of_raw_key(key: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name().as_bytes() == key)
    }

    /// The member's key.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Method => "method",
            Field::Params => "params",
            Field::Jsonrpc => "jsonrpc",
        }
    }
}

/// The longest key we need to recognise (`jsonrpc`).
const MAX_FIELD_KEY: usize = 7;

/// Where a member's value is, as far as known. Offsets are in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// No such member (yet).
    None,
    /// The value starts at `start`; `end` once it ended, but something may
    /// still be attached to its key.
    Partial {
        /// First byte of the value.
        start: u64,
        /// Just past its last byte, once seen.
        end: Option<u64>,
    },
    /// The value is `start..end`, and its key can take nothing more.
    Whole {
        /// First byte of the value.
        start: u64,
        /// Just past its last byte.
        end: u64,
    },
}

#[derive(Debug, Clone, Copy, Default)]
struct Member {
    /// The first key of this name was seen.
    seen: bool,
    start: Option<u64>,
    end: Option<u64>,
    /// Nothing more can be attached to its key.
    key_done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    Str,
    Prim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The top-level value.
    Root,
    /// A string that an object holds: must get exactly one value.
    Key,
    /// A value: a string or primitive must get nothing attached.
    Value,
}

/// A token that may still get something attached to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    kind: Kind,
    role: Role,
    /// How many tokens were attached, saturating at 2.
    attached: u8,
    /// For a container: whether it is still open.
    open: bool,
    /// For a key of the top-level object: the field it names, if it is
    /// that field's first key.
    field: Option<Field>,
}

/// jsmn's `toksuper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Super {
    /// The innermost open container (none once the top level closed).
    Open,
    /// The last token created (after a `:`).
    Last,
    /// A token that stopped being the last one while it was the super.
    Detached(Node),
}

/// Where the lexer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Between tokens.
    Between,
    /// Inside a string.
    Str,
    /// Just after a `\` in a string.
    Escape,
    /// Inside `\uXXXX`, with this many hex digits to go.
    Hex(u8),
    /// Inside a primitive.
    Prim,
}

/// A UTF-8 decoder's state inside a string: how many continuation bytes
/// are due, and the range the next one must fall in (which is narrower
/// after `E0`, `ED`, `F0` and `F4`, to refuse overlong forms, surrogates
/// and code points past U+10FFFF, as `utf8_decode` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Utf8 {
    due: u8,
    lo: u8,
    hi: u8,
}

impl Utf8 {
    const READY: Utf8 = Utf8 {
        due: 0,
        lo: 0x80,
        hi: 0xbf,
    };

    /// Takes one byte of a string; false if it makes the string invalid.
    fn take(&mut self, b: u8) -> bool {
        if self.due > 0 {
            if !(self.lo..=self.hi).contains(&b) {
                return false;
            }
            *self = Utf8 {
                due: self.due - 1,
                ..Self::READY
            };
            return true;
        }
        let (due, lo, hi) = match b {
            0x01..=0x7f => return true,
            0xc2..=0xdf => (1, 0x80, 0xbf),
            0xe0 => (2, 0xa0, 0xbf),
            0xed => (2, 0x80, 0x9f),
            0xe1..=0xef => (2, 0x80, 0xbf),
            0xf0 => (3, 0x90, 0xbf),
            0xf1..=0xf3 => (3, 0x80, 0xbf),
            0xf4 => (3, 0x80, 0x8f),
            _ => return false,
        };
        *self = Utf8 { due, lo, hi };
        true
    }
}

/// The checker. [`Checker::start`] it on a top-level `{` or `[`, then
/// [`Checker::step`] every byte from that one on. Its state survives
/// between reads, so a message arriving in many reads is checked once.
#[derive(Debug, Clone)]
pub struct Checker {
    lex: Lex,
    utf8: Utf8,
    /// Open containers, innermost last: `true` for an object.
    open: BitStack,
    max_depth: usize,
    sup: Super,
    /// The last token created.
    last: Option<Node>,
    /// Raw bytes of the top-level key being read, while it may still name
    /// a field.
    key: Option<([u8; MAX_FIELD_KEY], usize)>,
    /// Which field the open container at depth 2 is the value of.
    container_field: Option<Field>,
    /// The field whose primitive or string value is being read.
    leaf_field: Option<Field>,
    members: [Member; 4],
}

impl Checker {
    /// A checker that refuses nesting deeper than `max_depth` levels.
    pub fn new(max_depth: usize) -> Self {
        Self {
            lex: Lex::Between,
            utf8: Utf8::READY,
            open: BitStack::default(),
            max_depth: max_depth.max(1),
            sup: Super::Open,
            last: None,
            key: None,
            container_field: None,
            leaf_field: None,
            members: [Member::default(); 4],
        }
    }

    /// Starts checking a new top-level value; the next byte stepped is its
    /// first (`{` or `[`).
    pub fn start(&mut self) {
        let max_depth = self.max_depth;
        let mut open = std::mem::take(&mut self.open);
        open.clear();
        *self = Self {
            open,
            ..Self::new(max_depth)
        };
    }

    /// Where the value of the top-level member `field` is, as far as known.
    pub fn member(&self, field: Field) -> Span {
        let m = &self.members[field as usize];
        match (m.start, m.end) {
            (None, _) => Span::None,
            (Some(start), Some(end)) if m.key_done => Span::Whole { start, end },
            (Some(start), end) => Span::Partial { start, end },
        }
    }

    /// Bytes of memory the checker holds, for bounds checks.
    pub fn held_bytes(&self) -> usize {
        self.open.held_bytes()
    }

    /// How many of `bytes` [`Checker::step`] would take without a change
    /// of state (ASCII inside a string, other than `"`, `\` and NUL), so
    /// the framer can skip them in one go. A top-level key is stepped byte
    /// by byte, so that it can be recognised.
    pub fn plain_run(&self, bytes: &[u8]) -> usize {
        if self.lex != Lex::Str || self.key.is_some() || self.utf8.due > 0 {
            return 0;
        }
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b == 0 || b >= 0x80)
            .unwrap_or(bytes.len())
    }

    /// Checks byte `b`, at offset `at` of the stream.
    pub fn step(&mut self, b: u8, at: u64) -> Step {
        match self.lex {
            Lex::Str => self.string_byte(b, at),
            Lex::Escape => match b {
                b'"' | b'/' | b'\\' | b'b' | b'f' | b'r' | b'n' | b't' => self.in_string(b),
                b'u' => {
                    self.lex = Lex::Hex(4);
                    self.key_byte(b);
                    Step::More
                }
                _ => Step::Invalid("invalid escape in a string"),
            },
            Lex::Hex(left) => {
                if !b.is_ascii_hexdigit() {
                    return Step::Invalid("invalid \\u escape in a string");
                }
                self.lex = if left == 1 {
                    Lex::Str
                } else {
                    Lex::Hex(left - 1)
                };
                self.key_byte(b);
                Step::More
            }
            Lex::Prim => match b {
                b'\t' | b'\r' | b'\n' | b' ' | b',' | b']' | b'}' => {
                    self.lex = Lex::Between;
                    if let Some(field) = self.leaf_field.take() {
                        self.members[field as usize].end = Some(at);
                    }
                    self.between(b, at)
                }
                0x20..=0x7e => Step::More,
                _ => Step::Invalid("a byte that is not printable ASCII in a primitive"),
            },
            Lex::Between => self.between(b, at),
        }
    }

    fn in_string(&mut self, b: u8) -> Step {
        self.lex = Lex::Str;
        self.key_byte(b);
        Step::More
    }

    fn string_byte(&mut self, b: u8, at: u64) -> Step {
        if self.utf8.due == 0 {
            match b {
                b'"' => return self.string_ends(at),
                b'\\' => {
                    self.lex = Lex::Escape;
                    self.key_byte(b);
                    return Step::More;
                }
                0 => return Step::Invalid("a NUL byte (jsmn stops reading there)"),
                _ => {}
            }
        }
        if !self.utf8.take(b) {
            return Step::Invalid("a string that is not UTF-8");
        }
        self.key_byte(b);
        Step::More
    }

    fn key_byte(&mut self, b: u8) {
        if let Some((bytes, len)) = &mut self.key {
            if *len == MAX_FIELD_KEY {
                self.key = None;
            } else {
                bytes[*len] = b;
                *len += 1;
            }
        }
    }

    fn string_ends(&mut self, at: u64) -> Step {
        self.lex = Lex::Between;
        if let Some((bytes, len)) = self.key.take() {
            if let Some(field) = Field::of_raw_key(&bytes[..len]) {
                let member = &mut self.members[field as usize];
                if !member.seen {
                    member.seen = true;
                    if let Some(last) = &mut self.last {
                        last.field = Some(field);
                    }
                }
            }
        }
        if let Some(field) = self.leaf_field.take() {
            self.members[field as usize].end = Some(at + 1);
        }
        if self.open.is_empty() {
            // A top-level string: not a message, but a whole value.
            return Step::End;
        }
        Step::More
    }

    fn between(&mut self, b: u8, at: u64) -> Step {
        match b {
            b'\t' | b'\r' | b'\n' | b' ' => Step::More,
            b'{' | b'[' => self.open_container(b == b'{', at),
            b'}' | b']' => self.close(b == b'}', at),
            b'"' => {
                if let Err(why) = self.attach(Kind::Str, at) {
                    return Step::Invalid(why);
                }
                self.lex = Lex::Str;
                self.utf8 = Utf8::READY;
                Step::More
            }
            b':' => {
                let last_is_open_container = self.last.is_some_and(|l| l.open);
                self.set_super(if last_is_open_container {
                    Super::Open
                } else {
                    Super::Last
                });
                Step::More
            }
            b',' => {
                let super_is_container = match self.sup {
                    Super::Open => true,
                    Super::Last => self.last.is_some_and(|l| is_container(l.kind)),
                    Super::Detached(n) => is_container(n.kind),
                };
                if !super_is_container {
                    self.set_super(Super::Open);
                }
                Step::More
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                if let Err(why) = self.attach(Kind::Prim, at) {
                    return Step::Invalid(why);
                }
                self.lex = Lex::Prim;
                Step::More
            }
            0 => Step::Invalid("a NUL byte (jsmn stops reading there)"),
            _ => Step::Invalid("a byte that cannot start a token"),
        }
    }

    fn open_container(&mut self, object: bool, at: u64) -> Step {
        if self.open.len() >= self.max_depth {
            return Step::Invalid("nested deeper than the message limit allows");
        }
        let kind = if object { Kind::Object } else { Kind::Array };
        if let Err(why) = self.attach(kind, at) {
            return Step::Invalid(why);
        }
        if let Some(field) = self.leaf_field.take() {
            self.container_field = Some(field);
        }
        self.open.push(object);
        self.set_super(Super::Open);
        Step::More
    }

    fn close(&mut self, object: bool, at: u64) -> Step {
        match self.open.last() {
            Some(kind) if kind == object => {}
            Some(_) => return Step::Invalid("a closing bracket of the wrong kind"),
            None => return Step::Invalid("a closing bracket with nothing open"),
        }
        self.open.pop();
        if let Some(last) = &mut self.last {
            if last.open {
                // It was the innermost open container: it closed empty.
                last.open = false;
            }
        }
        self.set_super(Super::Open);
        if self.open.len() == 1 {
            if let Some(field) = self.container_field.take() {
                self.members[field as usize].end = Some(at + 1);
            }
        }
        if self.open.is_empty() {
            Step::End
        } else {
            Step::More
        }
    }

    /// jsmn's `toksuper = ...`: the old super can get nothing more.
    fn set_super(&mut self, sup: Super) {
        let old = match self.sup {
            Super::Open => None,
            Super::Last => self.last,
            Super::Detached(n) => Some(n),
        };
        if sup != Super::Last || self.sup != Super::Last {
            if let Some(field) = old.and_then(|n| n.field) {
                self.members[field as usize].key_done = true;
            }
        }
        self.sup = sup;
    }

    /// A new token of `kind` starts at `at`: attach it to the super, as
    /// jsmn does, and judge it as the validation will.
    fn attach(&mut self, kind: Kind, at: u64) -> Result<(), &'static str> {
        let top_level = self.open.len() == 1 && self.sup == Super::Open;
        let parent = match self.sup {
            Super::Open => self.open.last().map(|object| Node {
                kind: if object { Kind::Object } else { Kind::Array },
                role: Role::Value,
                attached: 0,
                open: true,
                field: None,
            }),
            Super::Last => self.last,
            Super::Detached(n) => Some(n),
        };
        // A key that got no value can never get one once a later token is
        // attached elsewhere (only the last token can become the super).
        if let Some(last) = self.last {
            let is_parent = self.sup == Super::Last;
            if last.role == Role::Key && last.attached == 0 && !is_parent {
                return Err("a key without a value");
            }
        }
        let role = match parent {
            None => Role::Root,
            Some(p) => match (p.kind, p.role) {
                (Kind::Object, _) if kind == Kind::Str => Role::Key,
                (Kind::Object, _) if kind == Kind::Prim => {
                    return Err("a primitive where an object needs a key")
                }
                (Kind::Object, _) => return Err("a container where an object needs a key"),
                (Kind::Array, _) => Role::Value,
                (Kind::Str, Role::Key) if p.attached == 0 => Role::Value,
                (Kind::Str, Role::Key) => return Err("a second value for one key"),
                (Kind::Str, _) => return Err("something attached to a string value"),
                (Kind::Prim, _) => return Err("something attached to a primitive"),
            },
        };
        if let Some(mut p) = parent {
            p.attached = p.attached.saturating_add(1).min(2);
            match self.sup {
                Super::Open => {}
                Super::Last | Super::Detached(_) => self.sup = Super::Detached(p),
            }
            if let Some(field) = p.field {
                if p.attached == 1 {
                    self.members[field as usize].start = Some(at);
                    self.leaf_field = Some(field);
                }
            }
        }
        self.key = (role == Role::Key && top_level).then_some(([0; MAX_FIELD_KEY], 0));
        self.last = Some(Node {
            kind,
            role,
            attached: 0,
            open: is_container(kind),
            field: None,
        });
        Ok(())
    }
}

fn is_container(kind: Kind) -> bool {
    matches!(kind, Kind::Object | Kind::Array)
}

#[cfg(test)]
mod tests;
