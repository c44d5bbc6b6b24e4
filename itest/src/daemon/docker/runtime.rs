//! Running engine calls from sync code, anywhere.
//!
//! testcontainers is async, and its blocking wrapper calls
//! `Runtime::block_on`, which panics inside another runtime (a
//! `#[tokio::test]`). Here every engine call runs on the harness's own
//! runtime (`crate::runtime`), driven from a short-lived helper thread that
//! is in no runtime context. So the sync API works the same from a plain
//! `#[test]`, from `#[tokio::test]` (either flavour) and from
//! `spawn_blocking`, and containers can be removed from any `Drop`. Unlike
//! `crate::runtime::block_on`, the future may borrow from the caller.

use std::future::Future;

use anyhow::{Context, Result};

/// Runs `fut` to completion on the harness runtime and returns its output,
/// whatever runtime (if any) the calling thread is in.
pub fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let handle = crate::runtime::handle();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("itest-docker-call".into())
            .spawn_scoped(s, || handle.block_on(fut))
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
