//! The record of every call the proxy saw: the last calls in full, and
//! exact counts per method, so a long test neither grows without bound
//! nor loses count.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Result};
use serde_json::Value;

use super::call::HttpFailure;

/// How many calls a proxy keeps in full by default ([`super::ProxyConf::record_limit`]).
pub const DEFAULT_RECORD_LIMIT: usize = 10_000;

/// What answered a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// bitcoind answered (the call was forwarded, maybe with other
    /// params); `error_code` is set when bitcoind answered with an error.
    Bitcoind {
        /// bitcoind's JSON-RPC error code, if it answered with an error.
        error_code: Option<i64>,
    },
    /// The fixed feerates answered (`estimatesmartfee`), or patched
    /// bitcoind's answer (`getmempoolinfo`'s fee fields).
    Feerates,
    /// A mock answered with a result.
    Mock,
    /// A mock answered with a JSON-RPC error.
    MockError {
        /// The error code the mock gave.
        code: i64,
    },
    /// A mock made the HTTP request fail.
    HttpFailure(HttpFailure),
    /// The mock handler panicked; the client got a JSON-RPC error (-32603)
    /// quoting the panic.
    MockPanicked(String),
    /// bitcoind could not be reached; the client's connection was closed.
    Unreachable(String),
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// 0 for the first call the proxy saw, then 1, 2, ... (never reused,
    /// also across [`super::ChainProxy::reset_record`]).
    pub seq: u64,
    /// When the call arrived.
    pub at: SystemTime,
    /// How long it took to answer (mock delays included).
    pub took: Duration,
    /// The method.
    pub method: String,
    /// The params as the client sent them.
    pub params: Value,
    /// The params forwarded instead, when a mock said
    /// [`super::MockReply::ForwardWith`].
    pub forwarded_params: Option<Value>,
    /// What answered.
    pub answer: Answer,
}

impl CallRecord {
    /// One line for error messages: `#3 estimatesmartfee [2,"CONSERVATIVE"] -> Feerates`.
    fn summary(&self) -> String {
        format!(
            "#{} {} {} -> {:?}",
            self.seq, self.method, self.params, self.answer
        )
    }
}

#[derive(Debug, Default)]
struct State {
    calls: VecDeque<CallRecord>,
    counts: BTreeMap<String, u64>,
    next_seq: u64,
}

/// Thread-safe call record with a wait for "method called n times".
#[derive(Debug)]
pub(super) struct Recorder {
    limit: usize,
    state: Mutex<State>,
    changed: Condvar,
}

impl Recorder {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            state: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sequence number the next call gets (taken when it arrives, so
    /// the order of `seq` is the order of arrival).
    pub(super) fn next_seq(&self) -> u64 {
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        seq
    }

    pub(super) fn record(&self, call: CallRecord) {
        let mut state = self.lock();
        *state.counts.entry(call.method.clone()).or_default() += 1;
        // Calls finish out of order (delays); keep the record sorted by
        // arrival so "the last calls" means the last to arrive.
        let pos = state
            .calls
            .iter()
            .rposition(|c| c.seq < call.seq)
            .map_or(0, |p| p + 1);
        state.calls.insert(pos, call);
        while state.calls.len() > self.limit {
            state.calls.pop_front();
        }
        drop(state);
        self.changed.notify_all();
    }

    pub(super) fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.iter().cloned().collect()
    }

    pub(super) fn count(&self, method: &str) -> u64 {
        self.lock().counts.get(method).copied().unwrap_or(0)
    }

    pub(super) fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().counts.clone()
    }

    pub(super) fn reset(&self) {
        let mut state = self.lock();
        state.calls.clear();
        state.counts.clear();
    }

    /// Blocks until `method` has been recorded `n` times (since the last
    /// reset), returning the count; fails after `timeout`, quoting every
    /// count and the last calls seen.
    pub(super) fn wait_for(&self, method: &str, n: u64, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let seen = state.counts.get(method).copied().unwrap_or(0);
            if seen >= n {
                return Ok(seen);
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {n} call(s) to `{method}`: seen {seen}\n{}",
                    describe(&state)
                );
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Every count, then the last few calls.
fn describe(state: &State) -> String {
    const LAST: usize = 10;
    let mut out = String::from("calls per method: ");
    if state.counts.is_empty() {
        out.push_str("none");
    }
    let counts: Vec<String> = state
        .counts
        .iter()
        .map(|(m, n)| format!("{m} x{n}"))
        .collect();
    out.push_str(&counts.join(", "));
    let skip = state.calls.len().saturating_sub(LAST);
    if state.calls.len() > skip {
        let _ = write!(out, "\nlast {} call(s):", state.calls.len() - skip);
        for call in state.calls.iter().skip(skip) {
            let _ = write!(out, "\n  {}", call.summary());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(rec: &Recorder, method: &str) -> CallRecord {
        CallRecord {
            seq: rec.next_seq(),
            at: SystemTime::now(),
            took: Duration::ZERO,
            method: method.into(),
            params: serde_json::json!([]),
            forwarded_params: None,
            answer: Answer::Mock,
        }
    }

    #[test]
    fn keeps_the_last_calls_but_counts_every_one() {
        let rec = Recorder::new(3);
        for _ in 0..5 {
            rec.record(call(&rec, "a"));
        }
        rec.record(call(&rec, "b"));
        let kept: Vec<u64> = rec.calls().iter().map(|c| c.seq).collect();
        assert_eq!(kept, vec![3, 4, 5]);
        assert_eq!((rec.count("a"), rec.count("b"), rec.count("c")), (5, 1, 0));
    }

    #[test]
    fn a_call_finishing_late_is_kept_in_arrival_order() {
        let rec = Recorder::new(10);
        let slow = call(&rec, "slow");
        let fast = call(&rec, "fast");
        rec.record(fast);
        rec.record(slow);
        let order: Vec<String> = rec.calls().into_iter().map(|c| c.method).collect();
        assert_eq!(order, vec!["slow", "fast"]);
    }

    #[test]
    fn wait_for_names_what_it_saw_on_timeout() {
        let rec = Recorder::new(10);
        rec.record(call(&rec, "getblockhash"));
        let err = rec
            .wait_for("estimatesmartfee", 1, Duration::from_millis(20))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`estimatesmartfee`: seen 0"), "{err}");
        assert!(err.contains("getblockhash x1"), "{err}");
        assert!(err.contains("#0 getblockhash [] -> Mock"), "{err}");
    }

    #[test]
    fn wait_for_returns_once_another_thread_records() {
        let rec = std::sync::Arc::new(Recorder::new(10));
        let writer = rec.clone();
        let t = std::thread::spawn(move || {
            for _ in 0..3 {
                writer.record(call(&writer, "m"));
            }
        });
        assert_eq!(rec.wait_for("m", 3, Duration::from_secs(30)).unwrap(), 3);
        t.join().unwrap();
    }

    #[test]
    fn reset_clears_calls_and_counts_but_not_sequence_numbers() {
        let rec = Recorder::new(10);
        rec.record(call(&rec, "m"));
        rec.reset();
        assert_eq!((rec.count("m"), rec.calls().len()), (0, 0));
        assert_eq!(call(&rec, "m").seq, 1);
    }
}
