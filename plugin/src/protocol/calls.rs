//! Method calls in flight: each gets exactly one reply, even at shutdown.
//!
//! A call's future is polled once where the request was read. Most calls
//! (myplugin's, once the node id is known) finish right there and are
//! answered with no task, no wake-up and no lock held across an await. Only
//! a call that has to wait is spawned, and registered under its id so that,
//! when the plugin stops, whatever has not finished within a short grace
//! period gets an error reply instead of silence. Registration also bounds
//! the memory waiting calls hold: each is weighed in bytes (its id, method
//! and params, its future, and a fixed [`CALL_OVERHEAD`]), and a call that
//! would take the waiting calls past [`MAX_WAITING_BYTES`] is answered
//! with an error at once, so the reading loop never stops reading (a
//! `shutdown` or EOF behind thousands of calls on a hung socket takes
//! effect at once, not after their timeout). The bound is on bytes, not on
//! calls: 20 000 small calls arriving while the first `getinfo` runs all
//! wait for it (issue 21, case 7), while a few huge ones cannot pile up.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::Notify;

use super::handler::RpcError;
use super::messages::{codes, ErrorObject, Level, Outgoing};
use super::writer::Output;

/// The most bytes the waiting calls may hold together (as weighed by
/// [`Calls::run`]): as much as one message may be
/// ([`MAX_MESSAGE`](super::framing::MAX_MESSAGE)). A call that would take
/// them past it is refused with an error reply, unless no call waits (a
/// call always fits alone: its message was read whole already).
pub const MAX_WAITING_BYTES: usize = 64 << 20;

/// What a waiting call costs besides its data and its future's own size:
/// its task's header and scheduling state, its registry entry, the
/// allocator's rounding.
pub const CALL_OVERHEAD: usize = 256;

#[derive(Default)]
struct Registry {
    /// Ids of the waiting calls and their weights, by registration number.
    waiting: BTreeMap<u64, (Box<RawValue>, usize)>,
    /// The sum of the waiting calls' weights.
    held: usize,
    next: u64,
    /// Whether calls are being refused (logged once per overload, not once
    /// per call).
    refusing: bool,
}

/// The calls of one plugin run.
#[derive(Clone)]
pub struct Calls {
    out: Output,
    registry: Arc<Mutex<Registry>>,
    /// Signalled whenever a waiting call finishes.
    finished: Arc<Notify>,
}

impl Calls {
    /// No calls yet; replies go to `out`.
    pub fn new(out: Output) -> Self {
        Self {
            out,
            registry: Arc::default(),
            finished: Arc::default(),
        }
    }

    /// Runs the call `future` for request `id`: answers it now if it is
    /// done at once, else in a task of its own, or refuses it at once if
    /// it would take the waiting calls past [`MAX_WAITING_BYTES`]. `data`
    /// is what the future holds on the heap (the call's method and params).
    pub fn run<F>(&self, id: Box<RawValue>, data: usize, future: F)
    where
        F: Future<Output = Result<Box<RawValue>, RpcError>> + Send + 'static,
    {
        let mut future = Box::pin(future);
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(result) = future.as_mut().poll(&mut cx) {
            self.out.send(&reply(id, result));
            return;
        }
        let weight = id.get().len() + data + std::mem::size_of::<F>() + CALL_OVERHEAD;
        let key = {
            let mut registry = self.registry.lock().expect("calls lock");
            if !registry.waiting.is_empty() && registry.held + weight > MAX_WAITING_BYTES {
                let first = !registry.refusing;
                registry.refusing = true;
                let held = registry.held;
                drop(registry);
                drop(future);
                return self.refuse(id, held, weight, first);
            }
            let key = registry.next;
            registry.next += 1;
            registry.held += weight;
            registry.waiting.insert(key, (id, weight));
            key
        };
        let calls = self.clone();
        tokio::spawn(async move {
            let result = future.await;
            calls.finish(key, result);
        });
    }

    /// Answers a call of `weight` bytes that would have had to wait beyond
    /// the cap, with `held` bytes waiting already.
    fn refuse(&self, id: Box<RawValue>, held: usize, weight: usize, log: bool) {
        let message = format!(
            "too many bytes in calls waiting: {held} held, this call needs {weight}, \
             the most is {MAX_WAITING_BYTES}; refused without waiting, try again later"
        );
        if log {
            self.out.log(
                Level::Warn,
                format!("{message} (logged once until a waiting call finishes)"),
            );
        }
        let error = ErrorObject {
            code: codes::INTERNAL_ERROR,
            message,
            data: None,
        };
        self.out.send(&Outgoing::Error { id, error });
    }

    /// Answers call `key`, unless shutdown already did.
    fn finish(&self, key: u64, result: Result<Box<RawValue>, RpcError>) {
        let mut registry = self.registry.lock().expect("calls lock");
        registry.refusing = false;
        if let Some((id, weight)) = registry.waiting.remove(&key) {
            registry.held -= weight;
            // Sent under the lock, so shutdown cannot answer it too.
            self.out.send(&reply(id, result));
        }
        drop(registry);
        self.finished.notify_waiters();
    }

    fn count(&self) -> usize {
        self.registry.lock().expect("calls lock").waiting.len()
    }

    /// At shutdown: gives the waiting calls up to `grace` to finish, then
    /// answers the rest with an error.
    pub async fn settle(&self, grace: Duration) {
        let _ = tokio::time::timeout(grace, self.wait_until(|n| n == 0)).await;
        let mut registry = self.registry.lock().expect("calls lock");
        let unfinished = std::mem::take(&mut registry.waiting);
        registry.held = 0;
        let message = format!(
            "the plugin is shutting down: the call did not finish within {} ms",
            grace.as_millis()
        );
        for (id, _) in unfinished.into_values() {
            let error = ErrorObject {
                code: codes::INTERNAL_ERROR,
                message: message.clone(),
                data: None,
            };
            self.out.send(&Outgoing::Error { id, error });
        }
    }

    async fn wait_until(&self, done: impl Fn(usize) -> bool) {
        loop {
            let finished = self.finished.notified();
            let mut finished = pin!(finished);
            finished.as_mut().enable();
            if done(self.count()) {
                return;
            }
            finished.await;
        }
    }
}

fn reply(id: Box<RawValue>, result: Result<Box<RawValue>, RpcError>) -> Outgoing {
    match result {
        Ok(result) => Outgoing::Response { id, result },
        Err(RpcError(error)) => Outgoing::Error { id, error },
    }
}
