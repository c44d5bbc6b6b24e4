//! The only way anything reaches stdout.
//!
//! stdout belongs to lightningd: every byte on it must be part of a JSON-RPC
//! message, or lightningd kills the plugin. Replies and log lines are
//! serialised whole, each with its `\n\n`, into one shared [`Output`]
//! buffer; only the reading loop writes that buffer out ([`Output::write_to`]),
//! as many messages per `write` as have piled up, before it reads more.
//!
//! That order is the bound on memory: a lightningd that stops reading our
//! stdout blocks that write, so we stop reading our stdin, and nothing piles
//! up. It is also the fast path: a reply computed while handling a read goes
//! out in the same wake-up, with no hop to another task.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::messages::{Level, Outgoing};
use super::preview::bounded;

#[derive(Default)]
struct Shared {
    pending: Mutex<Vec<u8>>,
    /// Wakes the reading loop when a message is queued from elsewhere (a
    /// call that finished in its own task).
    queued: Notify,
}

/// A cheap, cloneable handle for sending messages to lightningd.
#[derive(Clone, Default)]
pub struct Output {
    shared: Arc<Shared>,
}

impl Output {
    /// Nothing queued yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues one message; it is written before the next read of stdin.
    pub fn send(&self, message: &Outgoing) {
        let mut pending = self.shared.pending.lock().expect("output lock");
        let was_empty = pending.is_empty();
        message.write_to(&mut pending);
        pending.extend_from_slice(b"\n\n");
        drop(pending);
        if was_empty {
            self.shared.queued.notify_one();
        }
    }

    /// Sends a `log` notification: the line shows up in the node's log as
    /// `plugin-<name>: <message>`. Every log line passes here, and is cut to
    /// [`MAX_LOG_LINE`](super::preview::MAX_LOG_LINE) bytes
    /// ([`bounded`]).
    pub fn log(&self, level: Level, message: impl Into<String>) {
        self.send(&Outgoing::Log {
            level,
            message: bounded(message),
        });
    }

    /// Resolves when a message may have been queued since the last call.
    pub async fn queued(&self) {
        self.shared.queued.notified().await
    }

    /// Writes everything queued to `sink`, in order, waiting as long as the
    /// sink makes it wait.
    pub async fn write_to<W>(&self, sink: &mut W, spare: &mut Vec<u8>) -> std::io::Result<()>
    where
        W: AsyncWrite + Unpin,
    {
        loop {
            std::mem::swap(spare, &mut self.shared.pending.lock().expect("output lock"));
            if spare.is_empty() {
                return Ok(());
            }
            sink.write_all(spare).await?;
            // A no-op on a pipe; tokio's own stdout (the fallback) buffers.
            sink.flush().await?;
            spare.clear();
            // Don't keep a large buffer around after a burst.
            if spare.capacity() > 1 << 20 {
                *spare = Vec::new();
            }
        }
    }
}
