//! Polling with a time limit, shared by every readiness check.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What a timeout of [`wait_until`] says about its limit.
pub(crate) const LIMIT_HINT: &str = "the limit is Conf::timeout, ITEST_TIMEOUT by default";

/// Polls `check` until it returns `Ok(Some(_))`, returns an error (passed
/// on at once, e.g. "the daemon died"), or `timeout` passes. The pause
/// between polls is 1/20 of the time waited so far, kept within 10..100 ms:
/// short waits (a daemon starting) are noticed within 10-20 ms, and a long
/// wait costs at most 5 % extra, without polling a busy daemon hard.
/// `check` may write its latest observation into the `String` it is given;
/// the timeout error names `what` was awaited and quotes that observation,
/// so a failure says more than "timed out".
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut(&mut String) -> Result<Option<T>>,
) -> Result<T> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last = String::new();
    loop {
        if let Some(value) = check(&mut last)? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(Error::timeout(what, timeout, Some(last), LIMIT_HINT));
        }
        std::thread::sleep(poll_interval(started.elapsed()));
    }
}

/// The pause after waiting `waited` so far (see [`wait_until`]).
fn poll_interval(waited: Duration) -> Duration {
    (waited / 20).clamp(Duration::from_millis(10), Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_fast_at_first_then_backs_off() {
        assert_eq!(poll_interval(Duration::ZERO), Duration::from_millis(10));
        assert_eq!(
            poll_interval(Duration::from_millis(400)),
            Duration::from_millis(20)
        );
        assert_eq!(
            poll_interval(Duration::from_secs(30)),
            Duration::from_millis(100)
        );
    }
}
