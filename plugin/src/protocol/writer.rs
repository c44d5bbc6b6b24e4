//! The only way anything reaches stdout.
//!
//! stdout belongs to lightningd: every byte on it must be part of a JSON-RPC
//! message, or lightningd kills the plugin. Replies and log lines come from
//! many tasks; each is serialised whole, with its `\n\n`, into one shared
//! outbox, and one writer task writes the outbox out, as many messages per
//! `write` as have piled up. Nothing interleaves and nothing waits in the
//! outbox while the pipe can take it.
//!
//! The outbox is bounded by its reader, not by dropping: the reading loop
//! calls [`Output::room`] before it reads more requests, so a lightningd that
//! stops reading our stdout stops us reading our stdin, and memory does not
//! grow.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::messages::{Level, Outgoing};

/// Above this many unwritten bytes, the reading loop stops taking requests.
pub const HIGH_WATER: usize = 256 * 1024;

#[derive(Default)]
struct Outbox {
    pending: Vec<u8>,
    /// No more messages will come: the writer may finish.
    closed: bool,
    /// The sink failed (lightningd is gone): messages are discarded.
    failed: bool,
}

#[derive(Default)]
struct Shared {
    outbox: Mutex<Outbox>,
    /// Wakes the writer when the outbox goes from empty to not empty.
    has_work: Notify,
    /// Wakes whoever waits for room after each write.
    written: Notify,
}

/// A cheap, cloneable handle for sending messages to lightningd.
#[derive(Clone)]
pub struct Output {
    shared: Arc<Shared>,
}

impl Output {
    /// Starts the writer task on `sink` (stdout in production, a pipe in
    /// tests). The task ends with an error if the sink fails.
    pub fn spawn<W>(sink: W) -> (Output, JoinHandle<std::io::Result<()>>)
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(write_loop(sink, Arc::clone(&shared)));
        (Output { shared }, task)
    }

    /// Queues one message. Never waits: the bound is applied where requests
    /// are read (see [`Output::room`]).
    pub fn send(&self, message: &Outgoing) {
        let mut outbox = self.shared.outbox.lock().expect("outbox lock");
        if outbox.failed {
            return;
        }
        let was_empty = outbox.pending.is_empty();
        message.write_to(&mut outbox.pending);
        outbox.pending.extend_from_slice(b"\n\n");
        drop(outbox);
        if was_empty {
            self.shared.has_work.notify_one();
        }
    }

    /// Sends a `log` notification: the line shows up in the node's log as
    /// `plugin-<name>: <message>`.
    pub fn log(&self, level: Level, message: impl Into<String>) {
        self.send(&Outgoing::Log {
            level,
            message: message.into(),
        });
    }

    /// Whether the sink failed: lightningd is no longer reading us.
    pub fn failed(&self) -> bool {
        self.shared.outbox.lock().expect("outbox lock").failed
    }

    /// Waits until fewer than [`HIGH_WATER`] bytes are waiting to be
    /// written (or the sink failed).
    pub async fn room(&self) {
        self.wait_until(|o| o.pending.len() < HIGH_WATER || o.failed)
            .await
    }

    /// Lets the writer task end once everything queued is written; await
    /// its handle to know when.
    pub fn close(&self) {
        self.shared.outbox.lock().expect("outbox lock").closed = true;
        self.shared.has_work.notify_one();
    }

    async fn wait_until(&self, done: impl Fn(&Outbox) -> bool) {
        loop {
            let written = self.shared.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            if done(&self.shared.outbox.lock().expect("outbox lock")) {
                return;
            }
            written.await;
        }
    }
}

async fn write_loop<W>(mut sink: W, shared: Arc<Shared>) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut outbox = shared.outbox.lock().expect("outbox lock");
            std::mem::swap(&mut batch, &mut outbox.pending);
            outbox.closed
        };
        if batch.is_empty() {
            if closed {
                return Ok(());
            }
            shared.has_work.notified().await;
            continue;
        }
        // flush: a no-op on a pipe, needed by tokio's own stdout fallback.
        let result = match sink.write_all(&batch).await {
            Ok(()) => sink.flush().await,
            Err(err) => Err(err),
        };
        batch.clear();
        if let Err(err) = result {
            let mut outbox = shared.outbox.lock().expect("outbox lock");
            outbox.failed = true;
            outbox.pending = Vec::new();
            drop(outbox);
            shared.written.notify_waiters();
            return Err(err);
        }
        // Don't keep a large buffer around after a burst.
        if batch.capacity() > HIGH_WATER {
            batch = Vec::new();
        }
        shared.written.notify_waiters();
    }
}
