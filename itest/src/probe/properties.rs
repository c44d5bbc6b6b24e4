//! Reading `~/.testcontainers.properties`, a Java properties file.
//!
//! testcontainers reads it with the `serde-java-properties` crate; the
//! build script cannot use crates, so this is the same format by hand:
//! - a logical line ends at a newline not preceded by an odd number of
//!   backslashes (an escaped newline continues it, and the next line's
//!   leading whitespace is dropped);
//! - a line whose first non-blank character is `#` or `!` is a comment;
//! - the key ends at the first unescaped `=`, `:` or blank; blanks and one
//!   `=` or `:` after it are skipped, and the rest is the value;
//! - escapes: `\t`, `\n`, `\r`, `\f`, `\uXXXX`, and `\x` for any other `x`
//!   (so `tcp\://host:2375` reads `tcp://host:2375`).

/// The `(key, value)` pairs of a properties file, in order (a later
/// duplicate wins when looked up with [`get`]).
pub fn parse(text: &str) -> Vec<(String, String)> {
    logical_lines(text)
        .into_iter()
        .filter_map(|line| {
            let line = line.trim_start_matches([' ', '\t', '\x0c']);
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                return None;
            }
            Some(split(line))
        })
        .collect()
}

/// The value of the last `key` in `pairs`.
pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Joins continued lines (still escaped: the escapes are read later).
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.split(['\n', '\r']) {
        let piece = match &current {
            // A continuation drops its leading blanks.
            Some(_) => raw.trim_start_matches([' ', '\t', '\x0c']),
            None => raw,
        };
        let trailing = piece.chars().rev().take_while(|c| *c == '\\').count();
        let continues = trailing % 2 == 1;
        let kept = if continues {
            &piece[..piece.len() - 1]
        } else {
            piece
        };
        let line = current.get_or_insert_with(String::new);
        line.push_str(kept);
        if !continues {
            lines.push(current.take().unwrap_or_default());
        }
    }
    if let Some(line) = current {
        lines.push(line);
    }
    lines
}

/// Splits one logical line (leading blanks removed) into key and value.
fn split(line: &str) -> (String, String) {
    let mut chars = line.chars().peekable();
    let mut key = String::new();
    while let Some(&c) = chars.peek() {
        match c {
            '\\' => {
                chars.next();
                unescape_one(&mut chars, &mut key);
            }
            '=' | ':' | ' ' | '\t' | '\x0c' => break,
            c => {
                key.push(c);
                chars.next();
            }
        }
    }
    while chars
        .peek()
        .is_some_and(|c| matches!(c, ' ' | '\t' | '\x0c'))
    {
        chars.next();
    }
    if chars.peek().is_some_and(|c| matches!(c, '=' | ':')) {
        chars.next();
        while chars
            .peek()
            .is_some_and(|c| matches!(c, ' ' | '\t' | '\x0c'))
        {
            chars.next();
        }
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' {
            unescape_one(&mut chars, &mut value);
        } else {
            value.push(c);
        }
    }
    (key, value)
}

/// Reads the escape after a backslash into `out`.
fn unescape_one(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    match chars.next() {
        Some('t') => out.push('\t'),
        Some('n') => out.push('\n'),
        Some('r') => out.push('\r'),
        Some('f') => out.push('\x0c'),
        Some('u') => {
            let hex: String = chars.by_ref().take(4).collect();
            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                Some(c) => out.push(c),
                None => {
                    out.push('u');
                    out.push_str(&hex);
                }
            }
        }
        Some(other) => out.push(other),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_separators_escapes_comments_and_continuations() {
        let text = "# a comment\n\
                    ! another\n\
                    tc.host=tcp\\://10.0.0.5\\:2375\n\
                    docker.host : unix:///run/user/1000/docker.sock\n\
                    \x20\x20spaced   value with spaces\n\
                    docker.tls.verify 0\n\
                    long=first,\\\n\
                    \x20\x20\x20\x20second\n\
                    uni=\\u0041B\n\
                    empty=\n\
                    tc.host=tcp://later:2375\r\n";
        let pairs = parse(text);
        assert_eq!(get(&pairs, "tc.host"), Some("tcp://later:2375"));
        assert_eq!(
            pairs[0],
            ("tc.host".to_string(), "tcp://10.0.0.5:2375".to_string())
        );
        assert_eq!(
            get(&pairs, "docker.host"),
            Some("unix:///run/user/1000/docker.sock")
        );
        assert_eq!(get(&pairs, "spaced"), Some("value with spaces"));
        assert_eq!(get(&pairs, "docker.tls.verify"), Some("0"));
        assert_eq!(get(&pairs, "long"), Some("first,second"));
        assert_eq!(get(&pairs, "uni"), Some("AB"));
        assert_eq!(get(&pairs, "empty"), Some(""));
        assert_eq!(get(&pairs, "a"), None);
    }
}
