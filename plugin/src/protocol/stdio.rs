//! stdin and stdout as async streams, without a thread hop per message.
//!
//! `tokio::io::stdin()`/`stdout()` run every read and write on tokio's
//! blocking thread pool, because a file descriptor in general cannot be
//! polled. Measured (see bench/): about 27 syscalls, most of them futex
//! wake-ups, and 10 context switches per call. lightningd always gives a
//! plugin pipes, and pipes *can* be polled, so we hand the two descriptors
//! to tokio's reactor instead: per request one `epoll_wait`, one `read` and
//! one `write` (tokio marks the pipe drained after a short read, so there is
//! no second `read` to hear `EAGAIN`). For anything that is not a pipe (a
//! file, a terminal) we fall back to tokio's stdio.

use std::os::fd::AsFd;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

/// Our stdin. Must be called inside the tokio runtime.
pub fn input() -> Box<dyn AsyncRead + Unpin + Send> {
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Receiver::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdin()),
    }
}

/// Our stdout. Must be called inside the tokio runtime.
pub fn output() -> Box<dyn AsyncWrite + Unpin + Send> {
    let pipe = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Sender::from_owned_fd);
    match pipe {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdout()),
    }
}
