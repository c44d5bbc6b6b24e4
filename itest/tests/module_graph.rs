//! The library's modules import each other without a loop.
//!
//! A module is a file of `src/`. Module `a` imports `b` when its code (not
//! its comments or unit tests) names a path of `b`: `crate::b::...` or
//! `super::...`, resolved to the longest module prefix. A re-export counts
//! as an import too, so a module that reaches a sibling through its
//! parent's re-export, while the parent re-exports it, is a loop: import
//! from the module that defines the item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// `src/a/b.rs` -> `a::b`, `src/a/mod.rs` -> `a`, `src/lib.rs` -> `crate`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".into()
    } else {
        parts.join("::")
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its unit tests.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path `module`'s code names, before resolution: paths from
/// `crate::` or `super::`, and `use` of its own child modules (`mod x;`
/// then `use x::...`, as re-exports do).
fn named_paths(module: &str, code: &str) -> Vec<Vec<String>> {
    let path = Regex::new(
        r"\b(crate|super|use\s+[a-z_][a-z0-9_]*)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{[^}]*\})",
    )
    .unwrap();
    let child =
        Regex::new(r"(?m)^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;").unwrap();
    let children: BTreeSet<&str> = child
        .captures_iter(code)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let mut named = Vec::new();
    let base: Vec<String> = match module {
        "crate" => Vec::new(),
        m => m.split("::").map(String::from).collect(),
    };
    for cap in path.captures_iter(code) {
        let head = match cap[1].trim_start_matches("use").trim() {
            word @ ("crate" | "super") => word,
            _ => &cap[1],
        };
        let mut prefix = if head == "crate" {
            Vec::new()
        } else if head == "super" {
            let mut parent = base.clone();
            parent.pop();
            parent
        } else {
            // `use x::...`: only a child module counts (else an extern crate).
            let name = head.trim_start_matches("use").trim();
            if !children.contains(name) {
                continue;
            }
            let mut own = base.clone();
            own.push(name.to_string());
            own
        };
        let rest = &cap[2];
        if let Some(group) = rest.strip_prefix("::{") {
            // `use crate::{a, b::c}`: each item on its own.
            for item in group.trim_end_matches('}').split(',') {
                let item: Vec<String> = item
                    .split("::")
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if !item.is_empty() {
                    named.push([prefix.clone(), item].concat());
                }
            }
        } else {
            prefix.extend(rest.split("::").filter(|s| !s.is_empty()).map(String::from));
            named.push(prefix);
        }
    }
    named
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        // A unit-test file of its own belongs to its parent's tests.
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &modules {
        let code = code(&std::fs::read_to_string(file).unwrap());
        let targets = edges.entry(module.clone()).or_default();
        for path in named_paths(module, &code) {
            let target = (0..=path.len())
                .rev()
                .map(|n| match n {
                    0 => "crate".to_string(),
                    n => path[..n].join("::"),
                })
                .find(|m| modules.contains_key(m))
                .expect("crate is always a module");
            if &target != module {
                targets.insert(target);
            }
        }
    }
    edges
}

/// A loop in `edges`, as the modules along it, if there is one.
fn find_loop(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_import_each_other() {
    let edges = graph();
    // The check must see the imports it is about.
    assert!(
        edges["daemon::placement"].contains("daemon::native"),
        "{edges:#?}"
    );
    assert!(edges["crate"].contains("network"), "{edges:#?}");
    if let Some(cycle) = find_loop(&edges) {
        panic!("import loop: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_check_finds_a_loop_and_resolves_paths() {
    let named = named_paths(
        "daemon::docker::container",
        "mod inner;\nuse super::{owner, image::ImageRef};\nuse inner::X;\nuse anyhow::Result;",
    );
    assert_eq!(
        named,
        vec![
            vec!["daemon", "docker", "owner"],
            vec!["daemon", "docker", "image", "ImageRef"],
            vec!["daemon", "docker", "container", "inner", "X"],
        ]
    );
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    edges.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_loop(&edges).unwrap(), ["a", "b", "c", "a"]);
    edges.get_mut("c").unwrap().clear();
    assert_eq!(find_loop(&edges), None);
}
