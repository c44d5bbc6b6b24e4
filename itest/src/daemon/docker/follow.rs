//! A container's stdout and stderr, copied to files of this machine as
//! they come, with a way to know that everything has arrived.
//!
//! Where a daemon logs to stdout (a container that shares no paths), that
//! copy is its log file: `wait_for_log` reads it while the daemon runs,
//! and the teardown checks read it after the daemon stopped, so the copy
//! must be complete by then. The engine ends a followed log stream once the
//! container has exited and everything is sent; [`Follower::wait_done`]
//! waits for that.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use testcontainers::bollard::container::LogOutput;
use testcontainers::bollard::query_parameters::LogsOptionsBuilder;
use testcontainers::bollard::Docker;
use tokio::task::JoinHandle;

/// Copies one container's output until its stream ends or it is dropped.
#[derive(Debug)]
pub(crate) struct Follower {
    task: JoinHandle<()>,
    /// Says (by closing) that the stream ended.
    done: Mutex<Receiver<()>>,
}

/// Opens (creating, appending) a log file and its parent directory.
pub(crate) fn open_log(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

impl Follower {
    /// Follows container `id`'s output from its start, appending stdout to
    /// `stdout` and stderr to `stderr`.
    pub fn start(docker: Docker, id: &str, mut stdout: File, mut stderr: File) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let id = id.to_string();
        let task = crate::runtime::handle().spawn(async move {
            let options = LogsOptionsBuilder::new()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build();
            let mut stream = docker.logs(&id, Some(options));
            while let Some(frame) = stream.next().await {
                let Ok(frame) = frame else { break };
                let (file, bytes) = match &frame {
                    LogOutput::StdErr { message } => (&mut stderr, message),
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (&mut stdout, message)
                    }
                    LogOutput::StdIn { .. } => continue,
                };
                let _ = file.write_all(bytes);
            }
            let _ = stdout.flush();
            let _ = stderr.flush();
            drop(tx);
        });
        Self {
            task,
            done: Mutex::new(rx),
        }
    }

    /// Waits up to `limit` for the stream to end (the container exited and
    /// all its output is written); whether it did.
    pub fn wait_done(&self, limit: Duration) -> bool {
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        matches!(
            done.recv_timeout(limit),
            Err(RecvTimeoutError::Disconnected) | Ok(())
        )
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}
