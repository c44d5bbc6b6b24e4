//! lightningd's RPC socket, from a container that shares no paths with
//! this machine, at its usual path here.
//!
//! A unix socket cannot cross an engine that runs elsewhere, so it makes
//! two hops, each of them a plain byte pipe (JSON-RPC passes unchanged):
//! - inside the container, a forwarder listens on a TCP port (published
//!   like the daemon's own) and connects each client to the socket: `socat`
//!   where the image has it, else a short Python program (the official
//!   lightningd image and `scripts/images.sh`'s have python3). [`WRAPPER`]
//!   starts it, then `exec`s the daemon, so the daemon is still the
//!   container's main process;
//! - on this machine, [`SocketForward`] listens on a unix socket at the
//!   path the daemon uses inside, and connects each client to that
//!   published port. `Node::socket_path()`, cln-rpc and anything else
//!   that opens the socket work unchanged.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tokio::net::{TcpStream, UnixListener};
use tokio::task::JoinHandle;

/// The port the in-container forwarder listens on (the container has a
/// network namespace of its own, so it is free).
pub(crate) const FORWARD_PORT: u16 = 9835;

/// The environment variable [`WRAPPER`] reads the Python forwarder from.
pub(crate) const PYTHON_VAR: &str = "ITEST_RPC_FORWARDER";

/// `sh -c WRAPPER itest-rpc-forward SOCKET PORT PROGRAM ARGS...`: starts
/// the forwarder from TCP `PORT` to unix `SOCKET` in the background (its
/// output on stderr: stdout may be the daemon's log), then becomes
/// `PROGRAM ARGS...`. An image with neither socat nor python3 fails the
/// start with a line saying so.
pub(crate) const WRAPPER: &str = r#"sock=$1 port=$2
shift 2
# The socket's path may be longer than a socket address allows (lightningd
# binds it relative to its lightning-dir): connect by its name relative to
# the nearest directory of it that exists now.
dir=$(dirname "$sock")
while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done
rel=${sock#"$dir"/}
if command -v socat >/dev/null 2>&1; then
	(cd "$dir" && exec socat "TCP-LISTEN:$port,fork,reuseaddr" "UNIX-CONNECT:$rel") >&2 &
elif command -v python3 >/dev/null 2>&1; then
	(cd "$dir" && exec python3 -c "$ITEST_RPC_FORWARDER" "$port" "$rel") >&2 &
else
	echo "itest: this image has neither socat nor python3, one of which forwards lightningd's RPC socket over TCP when the Docker engine shares no paths with the test (ITEST_DOCKER_MODE=isolated): use an image with python3 (the official one, or scripts/images.sh)" >&2
	exit 127
fi
unset ITEST_RPC_FORWARDER
exec "$@"
"#;

/// TCP port `argv[1]` to unix socket `argv[2]`, one thread pair per
/// connection, each direction closed when the other side closes it.
pub(crate) const PYTHON: &str = r#"import socket, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def serve(conn):
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        unix.connect(path)
    except OSError:
        conn.close()
        unix.close()
        return
    back = threading.Thread(target=pump, args=(unix, conn), daemon=True)
    back.start()
    pump(conn, unix)
    back.join()
    conn.close()
    unix.close()
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", port))
server.listen(64)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

/// A unix socket on this machine whose every connection is piped to a TCP
/// address. Stops listening and removes the socket file on drop.
#[derive(Debug)]
pub(crate) struct SocketForward {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl SocketForward {
    /// Listens at `path` (replacing a stale socket there) and pipes each
    /// connection to `host:port`. A client whose connection cannot be
    /// made is closed at once, as an absent socket would refuse it.
    pub fn start(path: &Path, host: &str, port: u16) -> Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let _ = std::fs::remove_file(path);
        // However long the path (a long `Conf::tmp_root`): lightningd
        // itself binds its socket by a relative name.
        let bound = crate::rpc::connect::bind(path)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .with_context(|| format!("listening on {}", path.display()))?;
        let listener = crate::runtime::block_on(async move { UnixListener::from_std(bound) })
            .with_context(|| format!("listening on {}", path.display()))?;
        let target = (host.to_string(), port);
        let task = crate::runtime::handle().spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(&target).await {
                        let _ = upstream.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Ok(Self {
            path: path.to_path_buf(),
            task,
        })
    }
}

impl Drop for SocketForward {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    #[test]
    fn bytes_pass_both_ways_and_the_socket_goes_with_the_forward() {
        let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = echo.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in echo.incoming() {
                let mut conn = conn.unwrap();
                let mut buf = [0u8; 64];
                let n = conn.read(&mut buf).unwrap();
                conn.write_all(&buf[..n]).unwrap();
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("regtest/lightning-rpc");
        let forward = SocketForward::start(&path, "127.0.0.1", port).unwrap();
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.write_all(br#"{"id":1}"#).unwrap();
        let mut reply = [0u8; 8];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, br#"{"id":1}"#);
        drop(forward);
        assert!(!path.exists(), "the socket outlived its forward");
    }

    #[test]
    fn a_client_is_closed_when_nothing_listens_behind() {
        let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = unused.local_addr().unwrap().port();
        drop(unused);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let _forward = SocketForward::start(&path, "127.0.0.1", port).unwrap();
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).unwrap(), 0, "expected end of stream");
    }
}
