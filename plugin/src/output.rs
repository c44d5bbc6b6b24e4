//! The only way anything reaches stdout.
//!
//! stdout belongs to lightningd: every byte on it must be part of a JSON-RPC
//! message, or lightningd kills the plugin. Requests are served concurrently,
//! so replies and log lines come from many tasks; they all go through one
//! channel to one writer task, which writes each message whole, ends it with
//! `\n\n`, and flushes. Nothing can interleave and nothing is held back in a
//! buffer while lightningd waits for it.

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::messages::{Level, Outgoing};

enum Command {
    Send(String),
    /// Answered once everything queued before it is written and flushed.
    Flush(oneshot::Sender<()>),
}

/// A cheap, cloneable handle for sending messages to lightningd.
#[derive(Clone)]
pub struct Output {
    tx: mpsc::UnboundedSender<Command>,
}

impl Output {
    /// Starts the writer task on `sink` (stdout in production, a pipe or a
    /// buffer in tests). The task ends with an error if the sink fails, e.g.
    /// when lightningd has gone away.
    pub fn spawn<W>(sink: W) -> (Output, JoinHandle<std::io::Result<()>>)
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        (Output { tx }, tokio::spawn(write_loop(sink, rx)))
    }

    pub fn send(&self, message: Outgoing) {
        // If the writer is gone, lightningd is gone: there is nobody to tell.
        let mut bytes = message.to_json();
        bytes.push_str("\n\n");
        let _ = self.tx.send(Command::Send(bytes));
    }

    /// Sends a `log` notification: the line shows up in the node's log as
    /// `plugin-myplugin: <message>`.
    pub fn log(&self, level: Level, message: impl Into<String>) {
        self.send(Outgoing::Log {
            level,
            message: message.into(),
        });
    }

    /// Waits until everything sent so far has been written and flushed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_loop<W>(mut sink: W, mut rx: mpsc::UnboundedReceiver<Command>) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    while let Some(command) = rx.recv().await {
        match command {
            Command::Send(message) => {
                sink.write_all(message.as_bytes()).await?;
                sink.flush().await?;
            }
            Command::Flush(done) => {
                sink.flush().await?;
                let _ = done.send(());
            }
        }
    }
    Ok(())
}
