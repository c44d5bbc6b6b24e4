//! Where a network's time goes: the harness records each step it takes
//! (starting bitcoind, each node, funding, mining, teardown) with when it
//! began and how long it took.
//!
//! Slow tests are the first complaint about regtest harnesses, and the
//! answer is rarely in the test body: it is in daemons starting, blocks
//! being noticed, gossip. [`Network::timeline`](crate::Network::timeline)
//! gives the steps so far; with `ITEST_TIMELINE=1` the whole timeline,
//! teardown included, is printed to stderr when the network drops.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The environment variable that prints each network's timeline when it
/// drops.
pub const TIMELINE_ENV: &str = "ITEST_TIMELINE";

/// One step the harness took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What it was, e.g. `bitcoind: wallet and 101 blocks` or
    /// `l1: lightningd ready (synced)`.
    pub what: String,
    /// When it began, from the start of the network.
    pub began: Duration,
    /// How long it took.
    pub took: Duration,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>9.3} s {:>9.3} s  {}",
            self.began.as_secs_f64(),
            self.took.as_secs_f64(),
            self.what
        )
    }
}

/// The steps of one network, in the order they ended.
#[derive(Debug)]
pub(crate) struct Timeline {
    origin: Instant,
    steps: Mutex<Vec<Step>>,
}

impl Timeline {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            steps: Mutex::default(),
        }
    }

    /// Records a step that began at `began` and ends now.
    pub fn record(&self, what: impl Into<String>, began: Instant) {
        let step = Step {
            what: what.into(),
            began: began.saturating_duration_since(self.origin),
            took: began.elapsed(),
        };
        self.steps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(step);
    }

    /// Runs `f`, recording it as a step named `what`.
    pub fn time<T>(&self, what: impl Into<String>, f: impl FnOnce() -> T) -> T {
        let began = Instant::now();
        let out = f();
        self.record(what, began);
        out
    }

    /// Every step so far, in the order they ended.
    pub fn steps(&self) -> Vec<Step> {
        self.steps.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The steps as a table, one per line, each with when it began and how
    /// long it took.
    pub fn render(&self, title: &str) -> String {
        let mut out = format!("{title}\n    began      took  step\n");
        for step in self.steps() {
            out.push_str(&format!("{step}\n"));
        }
        out
    }
}

/// Whether `ITEST_TIMELINE` asks for timelines to be printed.
pub(crate) fn print_requested() -> bool {
    std::env::var(TIMELINE_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_their_order_and_durations() {
        let t = Timeline::new();
        t.time("first", || std::thread::sleep(Duration::from_millis(5)));
        let began = Instant::now();
        t.record("second", began);
        let steps = t.steps();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].what, "first");
        assert!(steps[0].took >= Duration::from_millis(5));
        assert!(steps[1].began >= steps[0].took);
        let table = t.render("net");
        assert!(
            table.lines().nth(2).unwrap().ends_with("  first"),
            "{table}"
        );
    }
}
