//! What a log wait looks for ([`Pattern`]) and where it starts looking
//! ([`LogMark`]).
//!
//! A pattern is a regex by default, as in pyln-testing, but Rust's `regex`
//! crate is stricter than Python's `re`: a `{` that is not a repetition
//! (`"id": {`) is an error, not a literal brace. Log lines quote JSON, so
//! [`Pattern::literal`] matches plain text exactly, whatever it contains.

use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::error::{bail, Context, Result};

/// A log pattern: a regex (the default for strings) or plain text.
///
/// Every wait takes `impl Into<Pattern>`, so a `&str` or `String` is a
/// regex and stays short; `Pattern::literal` is for text with regex
/// characters in it.
///
/// ```
/// use cln_itest::Pattern;
///
/// let regex: Pattern = r"plugin-\w+: ready".into();
/// let text = Pattern::literal(r#"got {"id": 1}"#);
/// assert!(regex.is_match("INFO plugin-mine: ready").unwrap());
/// assert!(text.is_match(r#"DEBUG plugin-mine: got {"id": 1}"#).unwrap());
/// assert!(!Pattern::literal("a.c").is_match("abc").unwrap());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: String,
    literal: bool,
}

impl Pattern {
    /// A regex, searched anywhere in the line (Rust `regex` syntax).
    pub fn regex(regex: impl Into<String>) -> Self {
        Self {
            text: regex.into(),
            literal: false,
        }
    }

    /// Plain text, found anywhere in the line exactly as written.
    pub fn literal(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            literal: true,
        }
    }

    /// The regex or text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is plain text rather than a regex.
    pub fn is_literal(&self) -> bool {
        self.literal
    }

    /// Whether `line` contains a match. Fails only for an invalid regex.
    pub fn is_match(&self, line: &str) -> Result<bool> {
        Ok(self.compile()?.is_match(line))
    }

    /// The regex this pattern stands for; an invalid one is named, with
    /// the way out for plain text.
    pub(crate) fn compile(&self) -> Result<Regex> {
        if self.literal {
            return Ok(Regex::new(&regex::escape(&self.text)).expect("an escaped regex is valid"));
        }
        Regex::new(&self.text).with_context(|| {
            format!(
                "invalid log pattern `{}` (a regex; for plain text use Pattern::literal)",
                self.text
            )
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.literal {
            write!(f, "text `{}`", self.text)
        } else {
            write!(f, "`{}`", self.text)
        }
    }
}

impl From<&str> for Pattern {
    fn from(regex: &str) -> Self {
        Self::regex(regex)
    }
}

impl From<&&str> for Pattern {
    fn from(regex: &&str) -> Self {
        Self::regex(*regex)
    }
}

impl From<String> for Pattern {
    fn from(regex: String) -> Self {
        Self::regex(regex)
    }
}

impl From<&String> for Pattern {
    fn from(regex: &String) -> Self {
        Self::regex(regex.as_str())
    }
}

impl From<&Pattern> for Pattern {
    fn from(pattern: &Pattern) -> Self {
        pattern.clone()
    }
}

impl From<Regex> for Pattern {
    fn from(regex: Regex) -> Self {
        Self::regex(regex.as_str())
    }
}

/// A position in a log: before some line. Take one with
/// [`Node::log_mark`](crate::Node::log_mark) (the end of the log so far),
/// then search from it with
/// [`Node::wait_for_log_since`](crate::Node::wait_for_log_since);
/// [`LogMark::start`] is the very first line.
///
/// A mark belongs to the log it was taken from; using it on another log
/// is an error (except [`LogMark::start`], which fits every log).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogMark {
    /// The log it was taken from; `None` for the start of any log.
    log: Option<PathBuf>,
    /// How many complete lines lie before it.
    line: usize,
}

impl LogMark {
    /// The start of a log, before its first line.
    pub fn start() -> Self {
        Self { log: None, line: 0 }
    }

    pub(crate) fn at(log: &Path, line: usize) -> Self {
        Self {
            log: Some(log.to_path_buf()),
            line,
        }
    }

    /// How many lines of the log lie before this mark (0 for the start).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The line index in the log at `path`, or an error if the mark was
    /// taken from another log.
    pub(crate) fn line_in(&self, path: &Path) -> Result<usize> {
        match &self.log {
            Some(log) if log != path => bail!(
                "a log mark taken from {} used on {}",
                log.display(),
                path.display()
            ),
            _ => Ok(self.line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_regexes_and_literals_are_plain_text() {
        let json_line = r#"DEBUG plugin-x: params {"id": 1}"#;
        let err = Pattern::from(r#"params {"id": 1}"#)
            .is_match(json_line)
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("Pattern::literal"), "{text}");
        assert!(Pattern::literal(r#"params {"id": 1}"#)
            .is_match(json_line)
            .unwrap());
        assert!(Pattern::from(r"params \{").is_match(json_line).unwrap());
        assert!(!Pattern::literal(r"params \{").is_match(json_line).unwrap());
        assert_eq!(Pattern::literal("a+b").to_string(), "text `a+b`");
        assert_eq!(Pattern::from("a+b").to_string(), "`a+b`");
        let compiled = Regex::new("x|y").unwrap();
        assert_eq!(Pattern::from(compiled), Pattern::regex("x|y"));
    }

    #[test]
    fn a_mark_fits_only_its_own_log() {
        let a = LogMark::at(Path::new("/tmp/l1/log"), 7);
        assert_eq!(a.line_in(Path::new("/tmp/l1/log")).unwrap(), 7);
        let err = a.line_in(Path::new("/tmp/l2/log")).unwrap_err();
        assert!(err.to_string().contains("taken from /tmp/l1/log"), "{err}");
        assert_eq!(LogMark::start().line_in(Path::new("/any")).unwrap(), 0);
    }
}
