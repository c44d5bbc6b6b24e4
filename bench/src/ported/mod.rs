//! Section 7: whole suites. The upstream tests ported in
//! examples/pyln-ports, run by pyln-testing (`pytest -n N` in a CLN source
//! tree) and by cln-itest (`cargo test -p pyln-ports --
//! --test-threads=N`), in interleaved rounds so that load from outside
//! falls on both; per-test wall times side by side and the ratio of the
//! two suites' wall times. Which upstream test each port ports comes from
//! `pyln_ports::ports()` (the ports' doc comments).

mod ours;
mod pyln;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use crate::report::{ratio, Row};
use crate::setup::Paths;
use crate::stats::{fmt_secs, Stats};
use crate::Config;

const SECTION: u8 = 7;

/// How one test ended in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Skipped(String),
    Failed(String),
}

impl Outcome {
    /// The worse of two outcomes (failed > skipped > passed), for tests
    /// whose time adds up from several cases.
    fn worst(self, other: Outcome) -> Outcome {
        let rank = |o: &Outcome| match o {
            Outcome::Passed => 0,
            Outcome::Skipped(_) => 1,
            Outcome::Failed(_) => 2,
        };
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }
}

/// One test's time in one suite run.
#[derive(Debug, Clone)]
pub struct TestTime {
    pub secs: f64,
    pub outcome: Outcome,
}

/// One suite run: its wall time and every test's time and outcome, by
/// pytest id (a parametrized test's cases each under their own).
#[derive(Debug, Clone)]
pub struct SuiteRun {
    pub wall: f64,
    pub tests: BTreeMap<String, TestTime>,
    pub summary: String,
}

impl SuiteRun {
    /// The upstream test `id`: that case, or for a whole test all its cases
    /// added up.
    fn get(&self, id: &str) -> Option<TestTime> {
        if let Some(t) = self.tests.get(id) {
            return Some(t.clone());
        }
        let prefix = format!("{id}[");
        self.tests
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, t)| t.clone())
            .reduce(|a, b| TestTime {
                secs: a.secs + b.secs,
                outcome: a.outcome.worst(b.outcome),
            })
    }
}

/// Every run of one side, or why that side could not run.
#[derive(Default)]
struct Side {
    runs: Vec<SuiteRun>,
    error: Option<String>,
}

impl Side {
    fn walls(&self) -> Vec<f64> {
        self.runs.iter().map(|r| r.wall).collect()
    }

    fn times(&self, id: &str) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| r.get(id).map(|t| t.secs))
            .collect()
    }

    /// The sum of the tests' own times, per run.
    fn test_sums(&self) -> Vec<f64> {
        self.runs
            .iter()
            .map(|r| r.tests.values().map(|t| t.secs).sum())
            .collect()
    }

    /// "failed 1/2: ...", "skipped 2/2: ..." for the runs where `id` did
    /// not pass (or did not appear).
    fn notes(&self, id: &str) -> Vec<String> {
        let n = self.runs.len();
        let mut failed = (0, String::new());
        let mut skipped = (0, String::new());
        let mut absent = 0;
        for run in &self.runs {
            match run.get(id).map(|t| t.outcome) {
                None => absent += 1,
                Some(Outcome::Passed) => {}
                Some(Outcome::Skipped(why)) => skipped = (skipped.0 + 1, why),
                Some(Outcome::Failed(why)) => failed = (failed.0 + 1, why),
            }
        }
        let mut out = Vec::new();
        if failed.0 > 0 {
            out.push(format!("FAILED {}/{n}: {}", failed.0, short(&failed.1)));
        }
        if skipped.0 > 0 {
            out.push(format!("skipped {}/{n}: {}", skipped.0, short(&skipped.1)));
        }
        if absent > 0 {
            out.push(format!("not run {absent}/{n}"));
        }
        out
    }

    fn counts(&self) -> String {
        let Some(last) = self.runs.last() else {
            return String::new();
        };
        let count = |f: fn(&Outcome) -> bool| last.tests.values().filter(|t| f(&t.outcome)).count();
        format!(
            "{} passed, {} failed, {} skipped (last round)",
            count(|o| *o == Outcome::Passed),
            count(|o| matches!(o, Outcome::Failed(_))),
            count(|o| matches!(o, Outcome::Skipped(_)))
        )
    }
}

fn short(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 60 {
        line.chars().take(60).collect::<String>() + "…"
    } else {
        line.to_string()
    }
}

/// Where the CLN source tree comes from: `--cln-src`, else `BENCH_CLN_SRC`.
pub fn cln_src(cfg: &Config) -> Option<PathBuf> {
    cfg.cln_src.clone().or_else(|| {
        std::env::var_os("BENCH_CLN_SRC")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

pub fn run(cfg: &Config, paths: &Paths, rows: &mut Vec<Row>) -> Result<()> {
    let threads = cfg.suite_threads;
    let all = pyln_ports::ports().context("reading the ports' mapping (pyln_ports::ports)")?;
    // A partial port is not the same test as its upstream one (upstream's
    // test_plugin_shutdown takes a minute, the part ported a few seconds):
    // both suites leave those out, and a row names them.
    let (ports, partial): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| p.partial.is_none());
    let mut ids: Vec<String> = ports.iter().map(|p| p.upstream.clone()).collect();
    ids.dedup();
    eprintln!(
        "bench: section 7: {} ported tests ({} upstream tests), {} rounds, {threads} threads",
        ports.len(),
        ids.len(),
        cfg.ported_rounds
    );

    let mut pyln_side = Side::default();
    let mut absent_upstream: BTreeMap<String, String> = BTreeMap::new();
    let pyln = match cln_src(cfg) {
        None => {
            pyln_side.error = Some("no CLN source tree (--cln-src PATH or BENCH_CLN_SRC)".into());
            None
        }
        Some(src) => match pyln::Pyln::prepare(paths, &src, threads) {
            Ok(p) => Some(p),
            Err(e) => {
                pyln_side.error = Some(format!("{e:#}"));
                None
            }
        },
    };
    let mut pyln_ids = ids.clone();
    if let Some(p) = &pyln {
        pyln_ids.retain(|id| match p.has_test(id) {
            Ok(()) => true,
            Err(why) => {
                absent_upstream.insert(id.clone(), why);
                false
            }
        });
    }
    // Both sides run the same lightningd: the tree's when there is one.
    let lightningd = pyln.as_ref().map(|p| p.lightningd());
    let left_out: Vec<String> = partial.iter().map(|p| p.test.clone()).collect();
    let ours = ours::Ours::prepare(paths, &ports, &left_out, threads, lightningd.clone())?;
    if !partial.is_empty() {
        let names: Vec<String> = partial
            .iter()
            .map(|p| format!("{} ({})", p.upstream, p.partial.as_deref().unwrap_or("")))
            .collect();
        rows.push(Row::missing(
            SECTION,
            "left out of both suites",
            "partial ports",
            "ported/partial".into(),
            &format!("not the same test as upstream's: {}", names.join("; ")),
        ));
    }
    let mut ours_side = Side::default();

    for round in 0..cfg.ported_rounds {
        for k in 0..2 {
            if (round + k) % 2 == 0 {
                if let (Some(p), None) = (&pyln, &pyln_side.error) {
                    match p.run(&pyln_ids, round) {
                        Ok(r) => pyln_side.runs.push(r),
                        Err(e) => {
                            eprintln!("bench: pyln-testing failed: {e:#}");
                            pyln_side.error = Some(format!("{e:#}"));
                        }
                    }
                }
            } else if ours_side.error.is_none() {
                match ours.run(round) {
                    Ok(r) => ours_side.runs.push(r),
                    Err(e) => {
                        eprintln!("bench: cln-itest failed: {e:#}");
                        ours_side.error = Some(format!("{e:#}"));
                    }
                }
            }
        }
    }

    let pyln_label = format!("pyln-testing: pytest -n {threads}");
    let ours_label = format!("cln-itest: cargo test -p pyln-ports -- --test-threads={threads}");
    let lightningd_text = ours::describe(lightningd.as_deref());
    let pyln_ok = pyln_side.error.is_none() && !pyln_side.runs.is_empty();

    // Per upstream test.
    for id in &ids {
        let port_names: Vec<&str> = ports
            .iter()
            .filter(|p| &p.upstream == id)
            .map(|p| p.test.as_str())
            .collect();
        let partial: Vec<&str> = ports
            .iter()
            .filter(|p| &p.upstream == id)
            .filter_map(|p| p.partial.as_deref())
            .collect();
        let measure = format!("ported test {}", id.trim_start_matches("tests/"));
        let subject = format!("cln-itest `{}`", port_names.join("` + `"));
        let key = format!("ported/{id}");
        let mine = ours_side.times(id);
        let mut notes = Vec::new();
        let theirs = pyln_side.times(id);
        let theirs_s = Stats::of(&theirs);
        let mut row = if mine.is_empty() {
            Row::missing(
                SECTION,
                &measure,
                &subject,
                key,
                ours_side
                    .error
                    .as_deref()
                    .map(short)
                    .as_deref()
                    .unwrap_or("not run"),
            )
        } else {
            Row::timing(SECTION, &measure, &subject, key, &Stats::of(&mine))
        };
        if let Some(why) = absent_upstream.get(id) {
            notes.push(format!("pyln-testing: missing: {why}"));
        } else if !pyln_ok {
            notes.push(format!(
                "pyln-testing: missing: {}",
                short(pyln_side.error.as_deref().unwrap_or("not run"))
            ));
        } else if !theirs.is_empty() {
            notes.push(if mine.is_empty() {
                format!("pyln-testing {}", fmt_secs(theirs_s.median))
            } else {
                let r = ratio(Stats::of(&mine).median, theirs_s.median);
                format!("{r} pyln-testing ({})", fmt_secs(theirs_s.median))
            });
        }
        if !partial.is_empty() {
            notes.push(format!("partial port: {}", partial.join("; ")));
        }
        notes.extend(ours_side.notes(id).into_iter().map(|n| format!("ours {n}")));
        if pyln_ok && !absent_upstream.contains_key(id) {
            notes.extend(pyln_side.notes(id).into_iter().map(|n| format!("pyln {n}")));
        }
        if !mine.is_empty() {
            row.ratio = notes.join("; ");
        } else {
            row.ratio = format!("{}; {}", row.ratio, notes.join("; "));
        }
        row.extra = json!({
            "upstream": id,
            "ports": port_names,
            "partial": partial,
            "ours_s": mine,
            "pyln_s": theirs,
            "pyln_median_s": if theirs.is_empty() { None } else { Some(theirs_s.median) },
        });
        rows.push(row);
    }

    // The suites' wall times.
    let measure = format!("ported suite wall ({threads} threads)");
    let pyln_wall = Stats::of(&pyln_side.walls());
    match (&ours_side.error, ours_side.runs.is_empty()) {
        (Some(e), _) => rows.push(Row::missing(
            SECTION,
            &measure,
            &ours_label,
            "ported_suite/ours".into(),
            &short(e),
        )),
        (None, true) => rows.push(Row::missing(
            SECTION,
            &measure,
            &ours_label,
            "ported_suite/ours".into(),
            "not run",
        )),
        (None, false) => {
            let s = Stats::of(&ours_side.walls());
            let mut row = Row::timing(
                SECTION,
                &measure,
                &ours_label,
                "ported_suite/ours".into(),
                &s,
            );
            row.ratio = ours_side.counts();
            // Partial ports do less than the upstream test pyln-testing
            // runs: say how much of each side's time they account for.
            let partial: Vec<&str> = ports
                .iter()
                .filter(|p| p.partial.is_some())
                .map(|p| p.upstream.as_str())
                .collect();
            if !partial.is_empty() {
                let share = |side: &Side| {
                    let sum: f64 = partial
                        .iter()
                        .map(|id| side.times(id))
                        .filter(|t| !t.is_empty())
                        .map(|t| Stats::of(&t).median)
                        .sum();
                    fmt_secs(sum)
                };
                row.ratio += &format!(
                    "; {} partial ports ({} of ours' test time, {} of pyln's)",
                    partial.len(),
                    share(&ours_side),
                    if pyln_ok {
                        share(&pyln_side)
                    } else {
                        "-".into()
                    }
                );
            }
            if pyln_ok {
                row.ratio = format!(
                    "{} pyln-testing; {}",
                    ratio(s.median, pyln_wall.median),
                    row.ratio
                );
                row.target = "≤0.5× pyln-testing".into();
                row.met = Some(s.median <= 0.5 * pyln_wall.median);
            }
            row.extra = json!({
                "stats": s.json(),
                "walls_s": ours_side.walls(),
                "tests": ports.len(),
                "lightningd": lightningd_text,
                "summaries": ours_side.runs.iter().map(|r| r.summary.clone()).collect::<Vec<_>>(),
            });
            rows.push(row);
        }
    }
    if pyln_ok {
        let mut row = Row::timing(
            SECTION,
            &measure,
            &pyln_label,
            "ported_suite/pyln".into(),
            &pyln_wall,
        );
        row.ratio = format!("1.00× pyln-testing; {}", pyln_side.counts());
        if !absent_upstream.is_empty() {
            row.ratio += &format!(
                "; {} upstream tests not in this tree",
                absent_upstream.len()
            );
        }
        row.extra = json!({
            "stats": pyln_wall.json(),
            "walls_s": pyln_side.walls(),
            "tests": pyln_ids,
            "cln_src": pyln.as_ref().map(|p| p.src().display().to_string()),
            "summaries": pyln_side.runs.iter().map(|r| r.summary.clone()).collect::<Vec<_>>(),
        });
        rows.push(row);
    } else {
        rows.push(Row::missing(
            SECTION,
            &measure,
            &pyln_label,
            "ported_suite/pyln".into(),
            &short(pyln_side.error.as_deref().unwrap_or("not run")),
        ));
    }

    // What the walls are made of: the tests' own times, added up (a wall
    // near sum / threads means the threads were kept busy).
    let measure = "  sum of the tests' own times";
    for (side, label, key) in [
        (
            &ours_side,
            "cln-itest (libtest exec_time)",
            "ported_sum/ours",
        ),
        (&pyln_side, "pyln-testing (JUnit time)", "ported_sum/pyln"),
    ] {
        if side.runs.is_empty() {
            continue;
        }
        let sums = Stats::of(&side.test_sums());
        let walls = Stats::of(&side.walls());
        let mut row = Row::timing(SECTION, measure, label, key.into(), &sums);
        row.ratio = format!(
            "wall = {:.2}× sum/{threads}",
            walls.median / (sums.median / threads as f64)
        );
        rows.push(row);
    }
    Ok(())
}
