//! The pyln-testing side of section 7: the upstream tests themselves, run
//! by `pytest -n N` (pytest-xdist) from the root of a CLN source tree built
//! in place, as its `make pytest` runs them: the tree's own
//! `lightningd/lightningd` (upstream's fixtures start that relative path)
//! and its own pyln packages (`contrib/` on `PYTHONPATH`); the venv brings
//! pytest, its plugins and the third-party modules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

use super::{Outcome, SuiteRun, TestTime};
use crate::setup::{self, Paths};

/// The tree's Python packages, in the order its Makefile puts them on
/// `PYTHONPATH` (`MY_CHECK_PYTHONPATH`).
const CONTRIB: &[&str] = &[
    "contrib/pyln-client",
    "contrib/pyln-testing",
    "contrib/pyln-proto",
    "contrib/pyln-spec/bolt1",
    "contrib/pyln-spec/bolt2",
    "contrib/pyln-spec/bolt4",
    "contrib/pyln-spec/bolt7",
    "contrib/pyln-grpc-proto",
];

/// A CLN source tree ready to run its tests.
pub struct Pyln {
    src: PathBuf,
    python: PathBuf,
    threads: usize,
    work: PathBuf,
}

impl Pyln {
    /// Checks the tree (built in place, with tests/ and contrib/) and makes
    /// the venv (`target/bench/venv-suite`, bench/requirements-suite.txt).
    pub fn prepare(paths: &Paths, src: &Path, threads: usize) -> Result<Self> {
        let src = std::fs::canonicalize(src)
            .with_context(|| format!("the CLN source tree {} does not exist", src.display()))?;
        for needed in [
            "lightningd/lightningd",
            "tests/fixtures.py",
            "contrib/pyln-testing",
        ] {
            ensure!(
                src.join(needed).exists(),
                "{} has no {needed}: give a CLN source tree built in place (./configure && make)",
                src.display()
            );
        }
        let python = setup::ensure_venv_in(paths, "venv-suite", "requirements-suite.txt")?;
        let probe = Command::new(&python)
            .args([
                "-c",
                "import xdist, pytest_timeout, bitcoin, ephemeral_port_reserve",
            ])
            .output()
            .context("running the suite venv's python")?;
        ensure!(
            probe.status.success(),
            "the suite venv lacks upstream's test dependencies: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        );
        let work = paths.out.join("ported");
        std::fs::create_dir_all(&work)?;
        Ok(Self {
            src,
            python,
            threads,
            work,
        })
    }

    pub fn src(&self) -> &Path {
        &self.src
    }

    /// The tree's lightningd, which both sides run.
    pub fn lightningd(&self) -> PathBuf {
        self.src.join("lightningd").join("lightningd")
    }

    /// Whether the tree has the upstream test `id` (`tests/test_x.py::test_y`,
    /// or a case `...::test_y[True]`: its decorators must parametrize it
    /// with that value), and if not, why.
    pub fn has_test(&self, id: &str) -> std::result::Result<(), String> {
        let (file, name) = id.split_once("::").unwrap_or((id, ""));
        let (function, case) = match name.split_once('[') {
            Some((f, c)) => (f, Some(c.trim_end_matches(']'))),
            None => (name, None),
        };
        let text = std::fs::read_to_string(self.src.join(file))
            .map_err(|e| format!("{file} not in this tree ({e})"))?;
        let lines: Vec<&str> = text.lines().collect();
        let Some(at) = lines
            .iter()
            .position(|l| l.starts_with(&format!("def {function}(")))
        else {
            return Err(format!("{function} not in this tree's {file}"));
        };
        let Some(case) = case else {
            return Ok(());
        };
        let decorators = lines[..at]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('@') || l.starts_with(' ') || l.starts_with(')'));
        let mut parametrized = false;
        for l in decorators {
            parametrized |= l.contains("parametrize");
            if l.contains("parametrize") && l.contains(case) {
                return Ok(());
            }
        }
        Err(if parametrized {
            format!("{function} in this tree's {file} has no case {case}")
        } else {
            format!("{function} in this tree's {file} is not parametrized (no case {case})")
        })
    }

    /// One `pytest -n N` over `ids`, timed from spawn to exit.
    pub fn run(&self, ids: &[String], round: usize) -> Result<SuiteRun> {
        let junit = self.work.join(format!("pyln-round{round}.xml"));
        let log = self.work.join(format!("pyln-round{round}.log"));
        let _ = std::fs::remove_file(&junit);
        let pythonpath = std::env::join_paths(
            CONTRIB
                .iter()
                .map(|c| self.src.join(c))
                .chain(std::env::var_os("PYTHONPATH").map(PathBuf::from)),
        )?;
        let venv_bin = self
            .python
            .parent()
            .expect("venv/bin/python3")
            .to_path_buf();
        let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))?;
        let mut cmd = Command::new(&self.python);
        cmd.args(["-m", "pytest", "-n", &self.threads.to_string()])
            // Upstream CI's options (PYTEST_OPTS_BASE, less --durations);
            // no cache dir written into the tree.
            .args(["-vvv", "--timeout=1800", "-p", "no:cacheprovider"])
            .arg(format!("--junit-xml={}", junit.display()))
            .args(ids)
            .current_dir(&self.src)
            .env("PATH", path)
            .env("PYTHONPATH", pythonpath)
            .env("VALGRIND", "0")
            .env("TEST_DEBUG", "0")
            // Upstream CI sets SLOW_MACHINE=1 (longer timeouts, slower
            // polling for its busy runners); a developer's run does not.
            .env_remove("SLOW_MACHINE")
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&log)?))
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log)?,
            ));
        eprintln!(
            "bench:   pyln-testing round {}: pytest -n {} over {} tests in {} (log {})",
            round + 1,
            self.threads,
            ids.len(),
            self.src.display(),
            log.display()
        );
        let t = Instant::now();
        let status = cmd.status().context("running pytest")?;
        let wall = t.elapsed().as_secs_f64();
        let Ok(xml) = std::fs::read_to_string(&junit) else {
            bail!(
                "pytest wrote no report ({status}); its log ends:\n{}",
                tail(&log, 20)
            );
        };
        let tests = parse_junit(&xml)?;
        // 0: all passed; 1: some failed (the report says which); anything
        // else (interrupted, usage, internal error) is not a suite run.
        if !matches!(status.code(), Some(0 | 1)) {
            bail!(
                "pytest failed ({status}); its log ends:\n{}",
                tail(&log, 20)
            );
        }
        Ok(SuiteRun {
            wall,
            tests,
            summary: format!("pytest {status}"),
        })
    }
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Per pytest id (`tests/test_x.py::test_y`, `...::test_y[case]`), its
/// time (setup + call + teardown, as pytest's JUnit report gives it) and
/// outcome.
pub fn parse_junit(xml: &str) -> Result<BTreeMap<String, TestTime>> {
    let doc = roxmltree::Document::parse(xml).context("parsing pytest's JUnit XML")?;
    let mut out: BTreeMap<String, TestTime> = BTreeMap::new();
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        let module = case.attribute("classname").unwrap_or_default();
        let module = module.rsplit('.').next().unwrap_or(module);
        let name = case.attribute("name").unwrap_or_default();
        let id = format!("tests/{module}.py::{name}");
        let secs: f64 = case
            .attribute("time")
            .and_then(|t| t.parse().ok())
            .with_context(|| format!("{id}: no time in pytest's report"))?;
        let child = |tag: &str| case.children().find(|c| c.has_tag_name(tag));
        let outcome = if let Some(f) = child("failure").or_else(|| child("error")) {
            Outcome::Failed(f.attribute("message").unwrap_or("failed").to_string())
        } else if let Some(s) = child("skipped") {
            Outcome::Skipped(s.attribute("message").unwrap_or("skipped").to_string())
        } else {
            Outcome::Passed
        };
        let entry = out.entry(id).or_insert(TestTime {
            secs: 0.0,
            outcome: Outcome::Passed,
        });
        entry.secs += secs;
        entry.outcome = entry.outcome.clone().worst(outcome);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_cases_map_to_upstream_ids() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="test_plugin" name="test_a" time="41.5" />
<testcase classname="tests.test_misc" name="test_b" time="2.0"><skipped message="no dev" /></testcase>
<testcase classname="test_plugin" name="test_c[v1]" time="1.0" />
<testcase classname="test_plugin" name="test_c[v2]" time="2.5"><failure message="boom">x</failure></testcase>
</testsuite></testsuites>"#;
        let got = parse_junit(xml).unwrap();
        assert_eq!(got["tests/test_plugin.py::test_a"].secs, 41.5);
        assert_eq!(got["tests/test_plugin.py::test_a"].outcome, Outcome::Passed);
        assert_eq!(
            got["tests/test_misc.py::test_b"].outcome,
            Outcome::Skipped("no dev".into())
        );
        assert_eq!(got["tests/test_plugin.py::test_c[v1]"].secs, 1.0);
        assert_eq!(
            got["tests/test_plugin.py::test_c[v2]"].outcome,
            Outcome::Failed("boom".into())
        );
    }
}
