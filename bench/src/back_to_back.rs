//! Section 2, back to back: many calls in a row on one connection to one
//! subject, the next sent as soon as the last reply is in (a script
//! looping over `lightning-cli`, a client polling).
//!
//! The interleaved 1-client rows send one call to each subject in turn, so
//! every subject's process has a pause (the other subjects' calls) between
//! two of its calls. Back to back there is none, and anything a process
//! does late (a deferred write, a wake-up it misses, memory it gives back
//! and faults in again) lands on the next call: that is where a tail shows
//! that the interleaved rows hide. The rows are measured beside the
//! interleaved ones, never instead: rounds of `b2b_calls` calls per
//! subject (200 in a row on one connection; 100 rounds, so 20 000 calls
//! and a p99.9 that is not one unlucky call), the subjects in a rotating
//! order per round, so that background load, which comes in bursts of
//! milliseconds to seconds on a shared machine, still falls on all of them
//! alike (in blocks of 1 000 calls, one burst could land on one subject's
//! block and decide its p99.9 alone).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Value};

use crate::report::{ratio, Row, Unit};
use crate::rpc::Client;
use crate::stats::{fmt_secs, share_above, Stats};
use crate::Config;

/// A call slower than this is "slow" in the rows' tail share.
const SLOW: f64 = 500e-6;

/// One subject of the section: where to call, what, and its row labels.
pub struct Target<'a> {
    pub socket: &'a Path,
    pub method: &'a str,
    pub params: Value,
    pub key: &'a str,
    pub label: &'a str,
}

/// Measures every target back to back; returns the rows and how many calls
/// each target got.
pub fn run(cfg: &Config, targets: &[Target], rows: &mut Vec<Row>) -> Result<Vec<usize>> {
    eprintln!(
        "bench: section 2, back to back: {} rounds of {} calls per subject on one connection",
        cfg.b2b_rounds, cfg.b2b_calls
    );
    let mut clients: Vec<Client> = targets
        .iter()
        .map(|t| Client::connect(t.socket, "b2b"))
        .collect::<Result<_>>()?;
    let n = targets.len();
    let mut lat = vec![Vec::with_capacity(cfg.b2b_rounds * cfg.b2b_calls); n];
    let mut wall = vec![0.0; n];
    for round in 0..cfg.b2b_rounds {
        for j in 0..n {
            let k = (round + j) % n;
            let t = &targets[k];
            let block = Instant::now();
            for _ in 0..cfg.b2b_calls {
                let call = Instant::now();
                clients[k].call(t.method, &t.params)?;
                lat[k].push(call.elapsed().as_secs_f64());
            }
            wall[k] += block.elapsed().as_secs_f64();
        }
    }
    let stats: Vec<Stats> = lat.iter().map(|l| Stats::of(l)).collect();
    let tput: Vec<f64> = (0..n).map(|k| lat[k].len() as f64 / wall[k]).collect();
    let floor = targets.iter().position(|t| t.key == "native");
    let python = targets.iter().position(|t| t.key == "py_stdlib");
    for (k, t) in targets.iter().enumerate() {
        let s = &stats[k];
        let mut row = Row::timing(
            2,
            "call latency, 1 client, back to back",
            t.label,
            format!("b2b/{}", t.key),
            s,
        );
        let mut parts = Vec::new();
        if let Some(f) = floor.filter(|&f| f != k) {
            parts.push(format!("{} getinfo", ratio(s.median, stats[f].median)));
        }
        parts.push(format!(
            "p99.9 {}; {:.2} % > 500 µs",
            fmt_secs(s.p999),
            share_above(&lat[k], SLOW)
        ));
        row.ratio = parts.join("; ");
        if let (Some(py), "ours") = (python, t.key) {
            let p = &stats[py];
            row.target = "ahead of py-stdlib: median, p99, p99.9".into();
            row.met = Some(s.median < p.median && s.p99 < p.p99 && s.p999 < p.p999);
        }
        row.extra = json!({
            "stats": s.json(),
            "share_above_500us_pct": share_above(&lat[k], SLOW),
            "wall_s": wall[k],
        });
        rows.push(row);
    }
    for (k, t) in targets.iter().enumerate() {
        let mut row = Row::new(
            2,
            "calls/s, 1 client, back to back",
            t.label,
            format!("b2b_tput/{}", t.key),
            Unit::PerSecond,
            tput[k],
        );
        row.n = lat[k].len();
        if let Some(f) = floor.filter(|&f| f != k) {
            row.ratio = format!("{} getinfo", ratio(tput[k], tput[f]));
        }
        if let (Some(py), "ours") = (python, t.key) {
            row.target = "ahead of py-stdlib".into();
            row.met = Some(tput[k] > tput[py]);
        }
        rows.push(row);
    }
    Ok(lat.iter().map(Vec::len).collect())
}
