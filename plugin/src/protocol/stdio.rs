//! stdin and stdout as async streams, without a thread hop per message,
//! and a way to wait for stdin that keeps a plugin called back to back
//! next to lightningd.
//!
//! `tokio::io::stdin()`/`stdout()` run every read and write on tokio's
//! blocking thread pool, because a file descriptor in general cannot be
//! polled. Measured (see bench/): about 27 syscalls, most of them futex
//! wake-ups, and 10 context switches per call. lightningd always gives a
//! plugin pipes, and pipes *can* be polled, so we hand the two descriptors
//! to tokio's reactor instead: per request one wait, one `read` and one
//! `write`. For anything that is not a pipe (a file, a terminal) we fall
//! back to tokio's stdio.
//!
//! The wait itself matters for calls sent back to back (issue 16). A pipe
//! write wakes a reader blocked in `read(2)` or `poll(2)` with the kernel's
//! hint that the writer is about to sleep, so the scheduler may run the
//! reader on the writer's CPU right after it; a reader in tokio's
//! `epoll_wait` is woken without that hint (this kernel, 6.18), and lands on
//! the other CPU. Measured with `perf sched` while calls came back to back:
//! 1 % of our switch-outs were on the CPU its lightningd had last run on,
//! against 15 % waiting in `poll(2)` (and 10 % for the library-free Python
//! plugin, blocked in `read`). Every call then needs a wake-up across CPUs
//! in both directions, and on two busy cores each can wait for another
//! process's time slice. So when nothing else can happen before the next
//! request (no task alive, nothing to write), the reading loop blocks in
//! `poll(2)` on stdin ([`Input::read_when_idle`]); otherwise it waits in
//! tokio as before. Numbers: README.md, Performance.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

/// What the reading loop reads lightningd's messages from.
pub trait Input: AsyncRead + Unpin {
    /// Blocks the thread until bytes (or EOF) arrive, then reads them into
    /// `buf`. Only called when nothing else can happen meanwhile. `None`
    /// if this input cannot (the loop then awaits it instead).
    fn read_when_idle(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>>;
}

/// Our stdin: the pipe from lightningd, or tokio's stdin for anything else.
pub enum Stdin {
    /// A pipe, polled by tokio's reactor or by `poll(2)`.
    Pipe(pipe::Receiver),
    /// Not a pipe (a file in tests, a terminal): tokio's blocking-pool stdin.
    Other(tokio::io::Stdin),
}

/// Our stdin. Must be called inside the tokio runtime.
pub fn input() -> Stdin {
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Receiver::from_owned_fd);
    match pipe {
        Ok(pipe) => Stdin::Pipe(pipe),
        Err(_) => Stdin::Other(tokio::io::stdin()),
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stdin::Pipe(pipe) => Pin::new(pipe).poll_read(cx, buf),
            Stdin::Other(stdin) => Pin::new(stdin).poll_read(cx, buf),
        }
    }
}

impl Input for Stdin {
    fn read_when_idle(&mut self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        match self {
            Stdin::Pipe(pipe) => Some(poll_then_read(pipe.as_raw_fd(), buf)),
            Stdin::Other(_) => None,
        }
    }
}

/// Waits in `poll(2)` until `fd` is readable (or closed), then reads it.
/// The descriptor is non-blocking (tokio set it so); a wake-up with nothing
/// to read just waits again. tokio's idea of the pipe's readiness may be
/// stale afterwards, which only costs its next read an `EAGAIN`.
fn poll_then_read(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut wait = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, and its count.
        if unsafe { libc::poll(&mut wait, 1, -1) } < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if !matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) {
            return Err(err);
        }
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
