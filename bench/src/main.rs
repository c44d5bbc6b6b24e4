//! `cargo run -p bench --release [-- --quick] [--sections 1,2,3,4,5,6,7] [--out PATH]
//! [--cln-src PATH] [--suite-threads N]`
//!
//! Measures myplugin, three peers implementing the same contract, and the
//! itest harness on real lightningd + bitcoind (regtest, loopback), all in
//! one run, and prints one table with ratios plus a JSON file for tracking.
//! See bench/README.md for what each figure means.

mod back_to_back;
mod floor;
mod networks;
mod plugins;
mod ported;
mod report;
mod rpc;
mod setup;
mod soak;
mod stats;
mod suite;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;

/// Iteration counts; `--quick` makes a smoke run of a few minutes.
pub struct Config {
    pub quick: bool,
    pub start_cycles: usize,
    pub call_rounds: usize,
    pub calls_1: usize,
    pub clients: usize,
    pub calls_8: usize,
    pub b2b_rounds: usize,
    pub b2b_calls: usize,
    pub mem_calls: usize,
    pub net_rounds: usize,
    pub suite_runs: usize,
    /// Section 7: rounds of each side (a pyln-testing suite run and a
    /// cln-itest one per round).
    pub ported_rounds: usize,
    /// Section 7: `pytest -n N` and `--test-threads=N`.
    pub suite_threads: usize,
    /// Section 7: the CLN source tree (else `BENCH_CLN_SRC`).
    pub cln_src: Option<PathBuf>,
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

impl Config {
    fn full() -> Self {
        Self {
            quick: false,
            start_cycles: 100,
            call_rounds: 20,
            calls_1: 200,
            clients: 8,
            calls_8: 60,
            b2b_rounds: 100,
            b2b_calls: 200,
            mem_calls: 10_000,
            net_rounds: 10,
            suite_runs: 2,
            ported_rounds: 2,
            suite_threads: cores(),
            cln_src: None,
        }
    }

    fn quick() -> Self {
        Self {
            quick: true,
            start_cycles: 5,
            call_rounds: 2,
            calls_1: 100,
            clients: 8,
            calls_8: 25,
            b2b_rounds: 4,
            b2b_calls: 100,
            mem_calls: 2_000,
            net_rounds: 1,
            suite_runs: 1,
            ported_rounds: 1,
            suite_threads: cores(),
            cln_src: None,
        }
    }
}

pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo run -p bench --release -- [--quick] [--sections 1,2,3,4,5,6,7] [--out PATH] \
         [--cln-src PATH] [--suite-threads N]\n\
         (section 7, whole ported suites against pyln-testing, is not in the default set: \
         about 10 minutes with 2 rounds on 2 cores; see bench/README.md)"
    );
    std::process::exit(2)
}

fn main() -> Result<()> {
    let mut cfg = Config::full();
    let mut sections: Vec<u8> = vec![1, 2, 3, 4, 5, 6];
    let mut out_path: Option<PathBuf> = None;
    let mut cln_src: Option<PathBuf> = None;
    let mut suite_threads: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => cfg = Config::quick(),
            "--sections" => {
                let list = args.next().unwrap_or_else(|| usage());
                sections = list
                    .split(',')
                    .map(|s| s.trim().parse().unwrap_or_else(|_| usage()))
                    .collect();
            }
            "--start-cycles" => {
                cfg.start_cycles = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage());
            }
            "--out" => out_path = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--cln-src" => cln_src = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--suite-threads" => {
                suite_threads = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n > 0)
                        .unwrap_or_else(|| usage()),
                );
            }
            "-h" | "--help" => usage(),
            other => {
                eprintln!("unknown argument {other}");
                usage()
            }
        }
    }
    cfg.cln_src = cln_src;
    if let Some(n) = suite_threads {
        cfg.suite_threads = n;
    }
    let started = Instant::now();
    let paths = setup::Paths::discover()?;
    let out_path = out_path.unwrap_or_else(|| paths.out.join("results.json"));
    // Sections 5 and 7 need none of the plugin peers (nor their builds).
    let peers = if sections.iter().any(|s| [1, 2, 3, 4, 6].contains(s)) {
        setup::prepare(&paths)?
    } else {
        Vec::new()
    };

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    if sections.iter().any(|s| (1..=3).contains(s)) {
        if let Err(e) = plugins::run(&cfg, &peers, &mut rows) {
            eprintln!("bench: sections 1-3 failed: {e:#}");
            errors.push(format!("sections 1-3: {e:#}"));
        }
    }
    if sections.contains(&4) {
        if let Err(e) = networks::run(&cfg, &paths, &peers[0].path, &mut rows) {
            eprintln!("bench: section 4 failed: {e:#}");
            errors.push(format!("section 4: {e:#}"));
        }
    }
    if sections.contains(&5) {
        if let Err(e) = suite::run(&cfg, &paths, &mut rows) {
            eprintln!("bench: section 5 failed: {e:#}");
            errors.push(format!("section 5: {e:#}"));
        }
    }
    if sections.contains(&6) {
        if let Err(e) = soak::run(&peers[0], &mut rows) {
            eprintln!("bench: section 6 failed: {e:#}");
            errors.push(format!("section 6: {e:#}"));
        }
    }
    if sections.contains(&7) {
        if let Err(e) = ported::run(&cfg, &paths, &mut rows) {
            eprintln!("bench: section 7 failed: {e:#}");
            errors.push(format!("section 7: {e:#}"));
        }
    }
    rows.retain(|r| sections.contains(&r.section));

    let meta = json!({
        "mode": if cfg.quick { "quick" } else { "full" },
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        "git_rev": capture("git", &["-C", &paths.workspace.to_string_lossy(), "rev-parse", "HEAD"]),
        "git_dirty": capture("git", &["-C", &paths.workspace.to_string_lossy(), "status", "--porcelain"]).map(|s| !s.is_empty()),
        "lightningd": capture("lightningd", &["--version"]),
        "bitcoind": capture("bitcoind", &["-version"]).and_then(|s| s.lines().next().map(str::to_string)),
        "python": capture(&paths.venv_python().to_string_lossy(), &["--version"]),
        "rustc": capture("rustc", &["--version"]),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").ok().map(|s| s.trim().to_string()),
        "duration_s": started.elapsed().as_secs_f64(),
        "peers": peers.iter().map(|p| json!({"key": p.key, "label": p.label, "path": p.path})).collect::<Vec<_>>(),
        "config": {
            "start_cycles": cfg.start_cycles, "call_rounds": cfg.call_rounds, "calls_1_per_round": cfg.calls_1,
            "clients": cfg.clients, "calls_per_client_per_round": cfg.calls_8,
            "b2b_rounds": cfg.b2b_rounds, "b2b_calls_per_round": cfg.b2b_calls, "mem_calls": cfg.mem_calls,
            "net_rounds": cfg.net_rounds, "suite_runs": cfg.suite_runs,
            "ported_rounds": cfg.ported_rounds, "suite_threads": cfg.suite_threads,
            "cln_src": ported::cln_src(&cfg),
        },
        "errors": errors,
    });
    let doc = report::to_json(meta, &rows);
    if let Some(dir) = out_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out_path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("writing {}", out_path.display()))?;

    println!(
        "\nmyplugin benchmark ({} run, {:.0} s; medians and nearest-rank p99 (p99.9 in the back-to-back rows); ratios within this run)\n",
        if cfg.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
    print!("{}", report::print_table(&rows));
    println!("\nJSON: {}", out_path.display());
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("bench: ERROR {e}");
        }
        bail!("{} section(s) failed", errors.len());
    }
    Ok(())
}

fn capture(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
