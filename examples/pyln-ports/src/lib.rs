//! This crate exists for its tests (`tests/`), ports of upstream
//! pyln-testing tests, and their plugins (`plugins/`). The library holds
//! one thing: which upstream test each port ports, read from the ports'
//! own doc comments, so that the mapping has one source and tools (the
//! bench's section 7) can run the same tests under pyln-testing.
//!
//! The convention: the first line of every test's doc comment starts with
//! the upstream file and test (with pytest's case in brackets when the
//! upstream test is parametrized and the port is one of its cases), and
//! says `(partial: ...)` when the port leaves part of it out:
//!
//! ```text
//! /// tests/test_plugin.py `test_rpc_passthrough`: what it checks ...
//! /// tests/test_misc.py `test_bitcoin_failure` (partial: its first half): ...
//! /// tests/test_closing.py `test_onchain_timeout[True]`: ...
//! #[test]
//! fn the_name_cargo_test_knows() { ... }
//! ```
//!
//! The unit tests below fail when a test in `tests/` does not follow it,
//! or when two tests share a name (libtest's output does not say which
//! binary a test is in).

#![warn(missing_docs)]

use std::path::{Path, PathBuf};

/// One ported test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The upstream test as pytest names it from the root of a CLN source
    /// tree, e.g. `tests/test_plugin.py::test_rpc_passthrough`, or one case
    /// of a parametrized test, `tests/test_closing.py::test_onchain_timeout[True]`.
    pub upstream: String,
    /// The test binary (the file's stem in `tests/`), e.g. `plugins`, for
    /// `cargo test -p pyln-ports --test plugins`.
    pub binary: String,
    /// The test's name, as `cargo test -- --exact` takes it and libtest
    /// reports it.
    pub test: String,
    /// What the port leaves out, when it ports only part of the upstream
    /// test.
    pub partial: Option<String>,
}

impl Port {
    /// The upstream file, e.g. `tests/test_plugin.py`.
    pub fn upstream_file(&self) -> &str {
        self.upstream.split("::").next().unwrap_or(&self.upstream)
    }

    /// The upstream function's name, e.g. `test_rpc_passthrough` (for a
    /// case, without it: `test_onchain_timeout`).
    pub fn upstream_function(&self) -> &str {
        let name = self.upstream.rsplit("::").next().unwrap_or(&self.upstream);
        name.split('[').next().unwrap_or(name)
    }

    /// The case of a parametrized upstream test, e.g. `True`, if the port
    /// ports one.
    pub fn upstream_case(&self) -> Option<&str> {
        let (_, case) = self.upstream.rsplit("::").next()?.split_once('[')?;
        case.strip_suffix(']')
    }
}

/// The ported fixture plugin `name`, in this crate's `plugins/`: the one
/// path every port needs, in one place.
pub fn plugin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plugins")
        .join(name)
}

/// This crate's `tests/` directory.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Every port in `tests/*.rs`, sorted by upstream id then test name.
pub fn ports() -> std::io::Result<Vec<Port>> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(tests_dir())? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let binary = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let source = std::fs::read_to_string(&path)?;
        all.extend(parse(&binary, &source));
    }
    all.sort_by(|a, b| (&a.upstream, &a.test).cmp(&(&b.upstream, &b.test)));
    Ok(all)
}

/// The ports in one test file's `source`: each doc line following the
/// convention, paired with the next `fn` after it.
pub fn parse(binary: &str, source: &str) -> Vec<Port> {
    let mut out = Vec::new();
    let mut pending: Option<(String, Option<String>)> = None;
    for line in source.lines().map(str::trim) {
        if let Some(found) = line.strip_prefix("/// ").and_then(upstream_of) {
            pending = Some(found);
        } else if let Some(name) = fn_name(line) {
            if let Some((upstream, partial)) = pending.take() {
                out.push(Port {
                    upstream,
                    binary: binary.to_string(),
                    test: name.to_string(),
                    partial,
                });
            }
        }
    }
    out
}

/// `tests/test_x.py `test_y` (partial: why)...` → (`tests/test_x.py::test_y`, why).
fn upstream_of(doc: &str) -> Option<(String, Option<String>)> {
    let (file, rest) = doc.split_once(' ')?;
    if !(file.starts_with("tests/") && file.ends_with(".py")) {
        return None;
    }
    let rest = rest.strip_prefix('`')?;
    let (name, rest) = rest.split_once('`')?;
    let (function, case) = match name.split_once('[') {
        Some((f, case)) => (f, Some(case.strip_suffix(']')?)),
        None => (name, None),
    };
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !function.starts_with("test_") || !ident(function) || case.is_some_and(|c| c.is_empty()) {
        return None;
    }
    let partial = rest
        .strip_prefix(" (partial: ")
        .and_then(|r| r.split_once(')'))
        .map(|(why, _)| why.to_string());
    Some((format!("{file}::{name}"), partial))
}

/// The name in `fn name(` or `async fn name(` (any visibility), if `line`
/// declares a function.
fn fn_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("pub ").unwrap_or(line);
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_and_partial_ports() {
        let src = "\
cln_itest::needs_lightningd! {
/// tests/test_plugin.py `test_a`: checks a
/// and more.
#[test]
fn a_works() {}
}
/// Not a port.
fn helper() {}
/// tests/test_misc.py `test_b` (partial: its first half): checks b.
#[test]
async fn b_works() {}
/// tests/test_closing.py `test_c[True]`: checks c.
#[test]
fn c_works() {}
";
        assert_eq!(
            parse("bin", src),
            vec![
                Port {
                    upstream: "tests/test_plugin.py::test_a".into(),
                    binary: "bin".into(),
                    test: "a_works".into(),
                    partial: None,
                },
                Port {
                    upstream: "tests/test_misc.py::test_b".into(),
                    binary: "bin".into(),
                    test: "b_works".into(),
                    partial: Some("its first half".into()),
                },
                Port {
                    upstream: "tests/test_closing.py::test_c[True]".into(),
                    binary: "bin".into(),
                    test: "c_works".into(),
                    partial: None,
                },
            ]
        );
        let ports = parse("bin", src);
        assert_eq!(ports[2].upstream_function(), "test_c");
        assert_eq!(ports[2].upstream_case(), Some("True"));
        assert_eq!(ports[0].upstream_case(), None);
    }

    /// Every `#[test]` in tests/ names its upstream test, once, and test
    /// names are unique across the binaries.
    #[test]
    fn every_test_in_tests_is_a_mapped_port() {
        let ports = ports().unwrap();
        let mut tests = 0;
        for entry in std::fs::read_dir(tests_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) == Some("rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                tests += source
                    .lines()
                    .filter(|l| {
                        l.trim().starts_with("#[test]") || l.trim().starts_with("#[tokio::test")
                    })
                    .count();
            }
        }
        assert_eq!(
            ports.len(),
            tests,
            "every test in {} needs a first doc line `tests/<file>.py `test_name`: ...`",
            tests_dir().display()
        );
        let mut names: Vec<&str> = ports.iter().map(|p| p.test.as_str()).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "two tests share a name: {ports:#?}");
    }
}
