//! Section 5: wall time of `cargo test -p cln-itest`, and how it grows with the
//! number of tests selected by name filters. Compilation is done first and
//! not timed; each timed run is a fresh `cargo test` process (so it includes
//! cargo's up-to-date check and the suite's own nested `cargo build` of the
//! plugin, as a developer's run does).

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::report::{ratio, Row};
use crate::setup::Paths;
use crate::stats::Stats;
use crate::Config;

/// Tests that each start their own network, picked first for the 1- and
/// 4-test selections (falls back to whatever the suite lists).
const PREFERRED: &[&str] = &[
    "node_id_is_the_id_of_the_node_it_runs_on",
    "option_value_reaches_the_plugin::case_1_default_without_options",
    "option_value_reaches_the_plugin::case_2_given_at_start",
    "params_are_returned_exactly_as_received::case_3_positional",
];

/// The harness's package, as `cargo test -p` names it (the folder is `itest/`).
const PACKAGE: &str = "cln-itest";

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

pub fn run(cfg: &Config, paths: &Paths, rows: &mut Vec<Row>) -> Result<()> {
    eprintln!("bench: section 5: cargo test -p cln-itest (compiling first, untimed)");
    compile(paths)?;
    let listed = Command::new(cargo())
        .args(["test", "-p", PACKAGE, "-q", "--", "--list"])
        .current_dir(&paths.workspace)
        .stderr(Stdio::null())
        .output()?;
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .filter(|n| !n.contains(" - ")) // doctests cannot be selected with --exact
        .map(str::to_string)
        .collect();
    let total = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| l.ends_with(": test"))
        .count();
    let mut chosen: Vec<String> = PREFERRED
        .iter()
        .filter(|p| names.iter().any(|n| n == *p))
        .map(|s| s.to_string())
        .collect();
    for n in &names {
        if chosen.len() >= 4 {
            break;
        }
        if !chosen.contains(n) && !n.contains("::tests::") {
            chosen.push(n.clone());
        }
    }
    let mut selections: Vec<(String, Vec<String>, usize)> =
        vec![("1 test".into(), chosen[..1].to_vec(), 1)];
    if chosen.len() >= 4 {
        selections.push(("4 tests".into(), chosen[..4].to_vec(), 4));
    }
    if !cfg.quick {
        selections.push((format!("all {total} tests"), Vec::new(), total));
    }
    let mut base = None;
    for (label, filters, count) in selections {
        let mut samples = Vec::new();
        let mut counted = (0, 0);
        for _ in 0..cfg.suite_runs {
            // The suite may be edited while we run (shared tree): make sure
            // no timed run includes compiling it.
            compile(paths)?;
            let mut cmd = Command::new(cargo());
            cmd.args(["test", "-p", PACKAGE])
                .current_dir(&paths.workspace);
            if !filters.is_empty() {
                cmd.arg("--").arg("--exact").args(&filters);
            }
            eprintln!("bench:   {label}: {cmd:?}");
            let t = Instant::now();
            let out = cmd
                .stdin(Stdio::null())
                .output()
                .context("running cargo test")?;
            let wall = t.elapsed().as_secs_f64();
            counted = results(&String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                let text = String::from_utf8_lossy(&out.stdout);
                let fails: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("FAILED") || l.starts_with("test result"))
                    .collect();
                bail!(
                    "cargo test -p cln-itest ({label}) failed ({}): {}",
                    out.status,
                    fails.join(" / ")
                );
            }
            samples.push(wall);
        }
        let s = Stats::of(&samples);
        let mut row = Row::timing(
            5,
            "cargo test -p cln-itest wall",
            &label,
            format!("suite/{count}"),
            &s,
        );
        let per_test = s.median / count as f64;
        match base {
            None => {
                base = Some(s.median);
                row.ratio = format!("{} per test", crate::stats::fmt_secs(per_test));
            }
            Some(b) => {
                let marginal = (s.median - b) / (count as f64 - 1.0);
                row.ratio = format!(
                    "{} 1-test run; +{} per extra test",
                    ratio(s.median, b),
                    crate::stats::fmt_secs(marginal)
                );
            }
        }
        row.extra = json!({"stats": s.json(), "tests_selected": count, "passed": counted.0, "failed": counted.1, "filters": filters});
        rows.push(row);
    }
    Ok(())
}

/// Sums `test result: ok. N passed; M failed` over all test binaries.
fn results(stdout: &str) -> (usize, usize) {
    let mut sum = (0, 0);
    for line in stdout.lines().filter(|l| l.starts_with("test result:")) {
        let num = |word: &str| {
            line.split(';')
                .find(|p| p.trim_end().ends_with(word))
                .and_then(|p| p.split_whitespace().rev().nth(1)?.parse::<usize>().ok())
                .unwrap_or(0)
        };
        sum.0 += num("passed");
        sum.1 += num("failed");
    }
    sum
}

fn compile(paths: &Paths) -> Result<()> {
    let status = Command::new(cargo())
        .args(["test", "-p", PACKAGE, "--no-run", "-q"])
        .current_dir(&paths.workspace)
        .status()?;
    if !status.success() {
        bail!("cargo test -p cln-itest --no-run failed ({status})");
    }
    Ok(())
}
