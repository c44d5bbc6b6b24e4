//! The cln-itest side of section 7: the ports in examples/pyln-ports, run
//! as a user runs them, `cargo test -p pyln-ports -- --test-threads=N`,
//! compiled first (untimed).
//!
//! Per-test times come from the same run: libtest reports them
//! (`--report-time`, as JSON) only behind `-Z unstable-options`, which a
//! stable toolchain accepts when the test binary itself sees
//! `RUSTC_BOOTSTRAP`. Setting that for cargo would rebuild every crate
//! whose build script watches it, so a runner script (cargo's
//! `target.<cfg>.runner`) adds it, and the JSON flags, to each test binary
//! only. Doctests are run by rustdoc, not through the runner, and keep
//! libtest's plain output. The command line is otherwise the user's.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pyln_ports::Port;
use serde_json::Value;

use super::{Outcome, SuiteRun, TestTime};
use crate::setup::Paths;

const PACKAGE: &str = "pyln-ports";

pub struct Ours {
    workspace: PathBuf,
    threads: usize,
    /// The lightningd the ports run (`LIGHTNINGD`): the tree's, when
    /// pyln-testing runs it too.
    lightningd: Option<PathBuf>,
    runner: PathBuf,
    work: PathBuf,
    /// Tests left out of every run (by exact name).
    skip: Vec<String>,
    /// libtest name → upstream id.
    upstream: HashMap<String, String>,
}

impl Ours {
    pub fn prepare(
        paths: &Paths,
        ports: &[Port],
        skip: &[String],
        threads: usize,
        lightningd: Option<PathBuf>,
    ) -> Result<Self> {
        let work = paths.out.join("ported");
        std::fs::create_dir_all(&work)?;
        let runner = work.join("libtest-json-runner.sh");
        std::fs::write(
            &runner,
            "#!/bin/sh\n\
             # Written by the bench (section 7): runs one libtest binary with\n\
             # per-test times as JSON; RUSTC_BOOTSTRAP for this process only.\n\
             exec env RUSTC_BOOTSTRAP=1 \"$@\" -Z unstable-options --format json --report-time --show-output\n",
        )?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755))?;
        }
        let ours = Self {
            workspace: paths.workspace.clone(),
            threads,
            lightningd,
            runner,
            work,
            skip: skip.to_vec(),
            upstream: ports
                .iter()
                .map(|p| (p.test.clone(), p.upstream.clone()))
                .collect(),
        };
        // Early, so that a build failure shows before the first round.
        ours.compile()?;
        Ok(ours)
    }

    /// `cargo test` with the runner and the environment every run gets
    /// (the same for compiling, so the timed runs compile nothing).
    fn cargo(&self) -> Command {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.arg("--config")
            .arg(format!(
                "target.'cfg(all())'.runner = '{}'",
                self.runner.display()
            ))
            .args(["test", "-p", PACKAGE])
            .current_dir(&self.workspace)
            .stdin(Stdio::null());
        if let Some(l) = &self.lightningd {
            cmd.env("LIGHTNINGD", l);
        }
        cmd
    }

    fn compile(&self) -> Result<()> {
        eprintln!("bench:   cln-itest: cargo test -p {PACKAGE} --no-run (untimed)");
        let status = self.cargo().args(["--no-run", "-q"]).status()?;
        if !status.success() {
            bail!("cargo test -p {PACKAGE} --no-run failed ({status})");
        }
        Ok(())
    }

    /// One `cargo test -p pyln-ports -- --test-threads=N`, timed from spawn
    /// to exit.
    pub fn run(&self, round: usize) -> Result<SuiteRun> {
        // The ports may have been edited since (a shared tree): no timed
        // run includes compiling them.
        self.compile()?;
        let log = self.work.join(format!("ours-round{round}.log"));
        let mut cmd = self.cargo();
        // Every test binary, even after one with a failing test (cargo
        // stops at the first by default): a failure must not hide the
        // other binaries' times. Changes nothing when all pass.
        cmd.arg("--no-fail-fast")
            .arg("--")
            .arg(format!("--test-threads={}", self.threads))
            .args(if self.skip.is_empty() {
                None
            } else {
                Some("--exact")
            })
            .args(self.skip.iter().flat_map(|t| ["--skip", t.as_str()]))
            .stderr(Stdio::from(std::fs::File::create(&log)?));
        eprintln!(
            "bench:   cln-itest round {}: cargo test -p {PACKAGE} --no-fail-fast -- --test-threads={} (log {})",
            round + 1,
            self.threads,
            log.display()
        );
        let t = Instant::now();
        let out = cmd.output().context("running cargo test")?;
        let wall = t.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout);
        std::fs::write(self.work.join(format!("ours-round{round}.json")), &*stdout)?;
        let tests = parse_libtest_json(&stdout, &self.upstream);
        if tests.is_empty() {
            bail!(
                "cargo test ran no port ({}); see {}",
                out.status,
                log.display()
            );
        }
        Ok(SuiteRun {
            wall,
            tests,
            summary: format!("cargo test {}", out.status),
        })
    }
}

/// Per upstream id, the time libtest reports for its port(s) (several
/// ports of one upstream test add up) and the outcome; a port that printed
/// `SKIPPED:` (the ports' runtime skip) counts as skipped. Lines that are
/// not libtest JSON (doctests, cargo) and tests that are not ports (the
/// crate's unit tests) are left out.
pub fn parse_libtest_json(
    stdout: &str,
    upstream: &HashMap<String, String>,
) -> BTreeMap<String, TestTime> {
    let mut out: BTreeMap<String, TestTime> = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.trim_start().starts_with('{')) {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if event["type"] != "test" {
            continue;
        }
        let Some(id) = event["name"].as_str().and_then(|n| upstream.get(n)) else {
            continue;
        };
        let secs = event["exec_time"].as_f64().unwrap_or(0.0);
        let said = event["stdout"].as_str().unwrap_or("");
        let outcome = match event["event"].as_str() {
            Some("ok") => match said.lines().find(|l| l.contains("SKIPPED")) {
                Some(why) => Outcome::Skipped(why.trim().to_string()),
                None => Outcome::Passed,
            },
            Some("failed") => Outcome::Failed(
                said.lines()
                    .find(|l| l.contains("panicked"))
                    .unwrap_or("failed")
                    .trim()
                    .to_string(),
            ),
            Some("ignored") => {
                Outcome::Skipped(event["message"].as_str().unwrap_or("ignored").to_string())
            }
            _ => continue, // "started", "timeout" (a warning, not an end)
        };
        let entry = out.entry(id.clone()).or_insert(TestTime {
            secs: 0.0,
            outcome: Outcome::Passed,
        });
        entry.secs += secs;
        entry.outcome = entry.outcome.clone().worst(outcome);
    }
    out
}

/// Where the ports' lightningd comes from, for the table.
pub fn describe(lightningd: Option<&Path>) -> String {
    match lightningd {
        Some(l) => l.display().to_string(),
        None => std::env::var("LIGHTNINGD").unwrap_or_else(|_| "lightningd on PATH".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_events_map_to_upstream_ids() {
        let upstream: HashMap<String, String> = [
            ("a_works", "tests/test_plugin.py::test_a"),
            ("b_works", "tests/test_closing.py::test_b"),
            ("c_works", "tests/test_misc.py::test_c"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let stdout = r#"
{ "type": "suite", "event": "started", "test_count": 3 }
{ "type": "test", "event": "started", "name": "a_works" }
{ "type": "test", "name": "a_works", "event": "ok", "exec_time": 12.5 }
{ "type": "test", "name": "b_works", "event": "ok", "exec_time": 0.2, "stdout": "SKIPPED: no developer options\n" }
{ "type": "test", "name": "c_works", "event": "failed", "exec_time": 3.0, "stdout": "thread 'c_works' panicked at x.rs:1:1:\nboom\n" }
{ "type": "test", "name": "tests::unit", "event": "ok", "exec_time": 0.0 }
running 0 tests
"#;
        let got = parse_libtest_json(stdout, &upstream);
        assert_eq!(got.len(), 3);
        assert_eq!(got["tests/test_plugin.py::test_a"].secs, 12.5);
        assert_eq!(got["tests/test_plugin.py::test_a"].outcome, Outcome::Passed);
        assert!(matches!(
            got["tests/test_closing.py::test_b"].outcome,
            Outcome::Skipped(_)
        ));
        assert!(matches!(
            got["tests/test_misc.py::test_c"].outcome,
            Outcome::Failed(_)
        ));
    }
}
