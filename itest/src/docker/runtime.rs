//! The tokio runtime that talks to the Docker engine.
//!
//! testcontainers is async, and its blocking wrapper calls
//! `Runtime::block_on`, which panics inside another runtime (a
//! `#[tokio::test]`). Here every engine call runs on one process-wide
//! runtime of our own, entered from a short-lived helper thread that has no
//! runtime context. So the harness's sync API works the same from a plain
//! `#[test]`, from `#[tokio::test]` (either flavour) and from
//! `spawn_blocking`, and containers can be removed from any `Drop`.

use std::future::Future;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use tokio::runtime::Runtime;

fn runtime() -> Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("itest-docker")
        .enable_all()
        .build()
        .context("building the tokio runtime for Docker calls")?;
    // A racing thread may have set it first; either runtime works.
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs `fut` to completion on the Docker runtime and returns its output,
/// whatever runtime (if any) the calling thread is in.
pub fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("itest-docker-call".into())
            .spawn_scoped(s, || rt.block_on(fut))
            .context("spawning a thread for a Docker call")?
            .join()
            .map_err(|_| anyhow::anyhow!("a Docker call panicked"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn works_inside_a_current_thread_runtime() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got = outer.block_on(async { block_on(async { 7 }).unwrap() });
        assert_eq!(got, 7);
    }

    #[test]
    fn borrows_from_the_caller() {
        let text = String::from("borrowed");
        let len = block_on(async { text.len() }).unwrap();
        assert_eq!(len, 8);
    }
}
