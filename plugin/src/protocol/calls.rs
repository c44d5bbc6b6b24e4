//! Method calls in flight: each gets exactly one reply, even at shutdown.
//!
//! A call's future is polled once where the request was read. Most calls
//! (myplugin's, once the node id is known) finish right there and are
//! answered with no task, no wake-up and no lock held across an await. Only
//! a call that has to wait is spawned, and registered under its id so that,
//! when the plugin stops, whatever has not finished within a short grace
//! period gets an error reply instead of silence. Registration also bounds
//! how many calls can wait at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::Notify;

use super::handler::RpcError;
use super::messages::{codes, ErrorObject, Outgoing};
use super::writer::Output;

/// At most this many calls wait at once; the reading loop waits for one to
/// finish before it reads more requests.
pub const MAX_WAITING: usize = 1024;

#[derive(Default)]
struct Registry {
    /// Ids of the waiting calls, by registration number.
    waiting: BTreeMap<u64, Box<RawValue>>,
    next: u64,
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
    pub fn new(out: Output) -> Self {
        Self {
            out,
            registry: Arc::default(),
            finished: Arc::default(),
        }
    }

    /// Runs the call `future` for request `id`: answers it now if it is
    /// done at once, else in a task of its own.
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

    /// Answers call `key`, unless shutdown already did.
    fn finish(&self, key: u64, result: Result<Box<RawValue>, RpcError>) {
        let mut registry = self.registry.lock().expect("calls lock");
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

    /// Whether fewer than [`MAX_WAITING`] calls wait.
    pub fn has_room(&self) -> bool {
        self.count() < MAX_WAITING
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
