//! Time limits and polling, shared by every readiness check.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// The readiness/wait limit: `ITEST_TIMEOUT` seconds, default 60. Slow
/// machines (valgrind, CI under load) raise it instead of editing tests.
pub fn timeout() -> Duration {
    let secs = std::env::var("ITEST_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Whether `ITEST_KEEP=1` asks to keep the temp dirs of passing tests too.
pub fn keep_dirs() -> bool {
    std::env::var("ITEST_KEEP").is_ok_and(|v| v == "1")
}

/// Polls `check` every 100 ms until it returns `Ok(Some(_))`, returns an
/// error (passed on at once, e.g. "the daemon died"), or `timeout` passes.
/// `check` may write its latest observation into the `String` it is given;
/// the timeout error names `what` was awaited and quotes that observation,
/// so a failure says more than "timed out".
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut(&mut String) -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        if let Some(value) = check(&mut last)? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            if last.is_empty() {
                bail!("timed out after {}s waiting for {what}", timeout.as_secs());
            }
            bail!(
                "timed out after {}s waiting for {what} (last state: {last})",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
