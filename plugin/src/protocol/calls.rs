//! Method calls in flight: each gets exactly one reply, even at shutdown.
//!
//! A call's future is polled once where the request was read. Most calls
//! (myplugin's, once the node id is known) finish right there and are
//! answered with no task, no wake-up and no lock held across an await. Only
//! a call that has to wait is spawned, and registered under its id so that,
//! when the plugin stops, whatever has not finished within a short grace
//! period gets an error reply instead of silence. Registration also bounds
//! how many calls can wait at once: a call that would wait beyond
//! [`MAX_WAITING`] is answered with an error at once, so the reading loop
//! never stops reading (a `shutdown` or EOF behind 2 000 calls on a hung
//! socket takes effect at once, not after their timeout).

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

/// At most this many calls wait at once; a call that would be one more is
/// refused with an error reply.
pub const MAX_WAITING: usize = 1024;

#[derive(Default)]
struct Registry {
    /// Ids of the waiting calls, by registration number.
    waiting: BTreeMap<u64, Box<RawValue>>,
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
    /// [`MAX_WAITING`] calls wait already.
    pub fn run<F>(&self, id: Box<RawValue>, future: F)
    where
        F: Future<Output = Result<Box<RawValue>, RpcError>> + Send + 'static,
    {
        let mut future = Box::pin(future);
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(result) = future.as_mut().poll(&mut cx) {
            self.out.send(&reply(id, result));
            return;
        }
        let key = {
            let mut registry = self.registry.lock().expect("calls lock");
            if registry.waiting.len() >= MAX_WAITING {
                let first = !registry.refusing;
                registry.refusing = true;
                drop(registry);
                drop(future);
                return self.refuse(id, first);
            }
            let key = registry.next;
            registry.next += 1;
            registry.waiting.insert(key, id);
            key
        };
        let calls = self.clone();
        tokio::spawn(async move {
            let result = future.await;
            calls.finish(key, result);
        });
    }

    /// Answers a call that would have had to wait beyond the cap.
    fn refuse(&self, id: Box<RawValue>, log: bool) {
        let message = format!(
            "too many calls waiting ({MAX_WAITING}): refused without waiting; try again later"
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
        if let Some(id) = registry.waiting.remove(&key) {
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
        let message = format!(
            "the plugin is shutting down: the call did not finish within {} ms",
            grace.as_millis()
        );
        for id in unfinished.into_values() {
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
