//! stdin and stdout as async streams, without a thread hop per message.
//!
//! `tokio::io::stdin()`/`stdout()` run every read and write on tokio's
//! blocking thread pool, because a file descriptor in general cannot be
//! polled. Measured (see bench/): about 27 syscalls, most of them futex
//! wake-ups, and 10 context switches per call. lightningd always gives a
//! plugin pipes, and pipes *can* be polled, so we hand the two descriptors
//! to tokio's reactor instead. For anything that is not a pipe (a file, a
//! terminal) we fall back to tokio's stdio.
//!
//! Reading stdin saves one more syscall per message: a read that returns
//! less than asked for has drained the pipe, so we tell the reactor so and
//! wait for the next wake-up, instead of reading again to hear `EAGAIN`.
//! One `read` and one `write` per request remain.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

/// Our stdin. Must be called inside the tokio runtime.
pub fn input() -> Box<dyn AsyncRead + Unpin + Send> {
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Receiver::from_owned_fd)
        .and_then(pipe::Receiver::into_nonblocking_fd)
        .and_then(register_readable);
    match pipe {
        Ok(fd) => Box::new(PipeReader { fd }),
        Err(_) => Box::new(tokio::io::stdin()),
    }
}

fn register_readable(fd: std::os::fd::OwnedFd) -> std::io::Result<AsyncFd<File>> {
    // SAFETY: the `File` owns the descriptor, so it stays open and the same
    // for as long as the `AsyncFd` that owns the `File`.
    unsafe { AsyncFd::register_with_interest(File::from(fd), Interest::READABLE) }
        .map_err(|err| err.into_parts().1)
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

/// The read end of a non-blocking pipe, registered with tokio's reactor.
struct PipeReader {
    fd: AsyncFd<File>,
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            let mut ready = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let wanted = unfilled.len();
            match ready.try_io(|fd| fd.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    if n < wanted {
                        // Drained. Data arriving from now on is a new edge
                        // the reactor will report, so nothing is missed.
                        ready.clear_ready();
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(err)) => return Poll::Ready(Err(err)),
                Err(_would_block) => continue,
            }
        }
    }
}
