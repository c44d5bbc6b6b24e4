//! The two long-lived threads every harness process shares.
//!
//! - The *spawner* thread forks every local daemon. `PR_SET_PDEATHSIG`
//!   fires when the thread that forked a child exits, not the process, so
//!   a daemon spawned from a tokio blocking-pool thread died when tokio
//!   retired that thread (~10 s idle). This thread never exits, so daemons
//!   die exactly when the test process does, even by SIGKILL.
//! - A private tokio runtime runs every RPC future. A sync call hands its
//!   future over and waits on a channel, so it works from plain threads and
//!   from inside any caller's runtime ("Cannot start a runtime from within a
//!   runtime" cannot happen: the caller's runtime is never entered).

use std::future::Future;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use crate::error::{Context, Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on the spawner thread and waits for its result.
fn on_spawner<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("itest-spawner".into())
            .spawn(move || {
                // Lives until the process exits: the sender is in a static.
                for job in rx {
                    job();
                }
            })
            .expect("starting the itest spawner thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(Box::new(move || {
            let _ = tx.send(job());
        }))
        .map_err(|_| Error::msg("the itest spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| Error::msg("the itest spawner thread dropped a job"))
}

/// Spawns `cmd` from the spawner thread (see the module docs).
pub(crate) fn spawn(mut cmd: Command) -> Result<Child> {
    let shown = format!("{cmd:?}");
    on_spawner(move || cmd.spawn())?.with_context(|| format!("spawning {shown}"))
}

/// The harness's own tokio runtime (one worker thread, never shut down).
pub(crate) fn handle() -> &'static tokio::runtime::Handle {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("itest-rpc")
                .enable_all()
                .build()
                .expect("building the itest RPC runtime")
        })
        .handle()
}

/// Runs `fut` on the harness runtime and blocks the calling thread until it
/// finishes. Safe inside another runtime; it blocks that runtime's thread
/// for the duration, like any sync call.
pub(crate) fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    handle().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .expect("the itest runtime dropped a future (it never shuts down)")
}
