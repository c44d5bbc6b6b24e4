//! One JSON-RPC call over lightningd's unix socket, read with a cap.
//!
//! A general client (`cln-rpc`'s codec) buffers a reply until it is
//! complete, so a socket that streams 256 MiB without ever finishing one
//! held 265 MB until our timeout fired. We need one small reply, so we read
//! it ourselves with the protocol's own [`FrameReader`]: at most
//! [`MAX_REPLY`] bytes, and a socket that answers with something that is not
//! JSON is reported as exactly that, with what it said.

use std::os::fd::AsRawFd;
use std::path::Path;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::protocol::framing::{Frame, FrameReader};
use crate::protocol::preview::{bounded, preview};

/// The largest reply read. A filtered `getinfo` is under 200 bytes; an
/// unfiltered one a few kilobytes.
pub const MAX_REPLY: usize = 1 << 20;

/// Why a call over the socket failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SocketError {
    /// Connecting failed (no such socket, nobody listening, no permission).
    #[error("{0}")]
    Connect(String),
    /// Reading or writing the connection failed.
    #[error("{what}: {reason}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// The OS error.
        reason: String,
    },
    /// The connection ended before a whole reply arrived.
    #[error("lightningd closed the connection before a complete reply (after {received} bytes)")]
    Closed {
        /// Bytes received until then.
        received: usize,
    },
    /// The reply is larger than we read.
    #[error("the reply is larger than {limit} bytes, more than a reply to this call can be")]
    TooLarge {
        /// [`MAX_REPLY`].
        limit: usize,
    },
    /// The socket answered with bytes that are not JSON.
    #[error("the socket answered with something that is not JSON ({reason}): {shown}")]
    NotJson {
        /// What is wrong with it.
        reason: String,
        /// A preview of what it sent.
        shown: String,
    },
    /// lightningd answered with a JSON-RPC error.
    #[error("lightningd answered with error {code}: {message}")]
    Rpc {
        /// The error's code.
        code: i64,
        /// The error's message.
        message: String,
    },
    /// JSON, but not a reply to our request.
    #[error("the reply is not a JSON-RPC response to our request: {0}")]
    Unexpected(String),
}

/// Calls `method` with `params` (and `filter`, which lightningd applies to
/// its built-in commands) on the node's socket: the `result`.
pub async fn call(
    socket: &Path,
    method: &str,
    params: &Value,
    filter: Option<&Value>,
) -> Result<Value, SocketError> {
    let mut stream = connect(socket)
        .await
        .map_err(|e| SocketError::Connect(e.to_string()))?;
    let id = format!("myplugin:{method}#{}", std::process::id());
    let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    if let Some(filter) = filter {
        request["filter"] = filter.clone();
    }
    let mut bytes = request.to_string().into_bytes();
    bytes.extend_from_slice(b"\n\n");
    stream
        .write_all(&bytes)
        .await
        .map_err(|e| SocketError::Io {
            what: "sending the request",
            reason: e.to_string(),
        })?;
    let reply = read_reply(&mut stream, &id).await?;
    if let Some(error) = reply.get("error") {
        return Err(SocketError::Rpc {
            code: error["code"].as_i64().unwrap_or_default(),
            // Quoted in our log and our error reply: cut as a log line is.
            message: bounded(
                error["message"]
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned),
            ),
        });
    }
    match reply.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(SocketError::Unexpected(preview(
            reply.to_string().as_bytes(),
        ))),
    }
}

/// Room for a socket's path in `sockaddr_un` (`sun_path`), with its NUL.
const SUN_PATH: usize = 108;

/// Connects to the socket at `path` however long the path is, as
/// lightning-cli does. lightningd `chdir()`s into its lightning-dir
/// before it starts plugins (lightningd/options.c:1850 in v26.06.6) and
/// binds `lightning-rpc` by that relative name (lightningd/jsonrpc.c:1453);
/// lightning-cli `chdir()`s there too and connects by the relative name
/// (cli/lightning-cli.c:728-743). We inherit lightningd's working
/// directory, so a path under it is tried relative to it; a long path
/// elsewhere is reached through a descriptor of its directory. A short
/// path is used as it is.
async fn connect(path: &Path) -> std::io::Result<UnixStream> {
    if path.as_os_str().len() < SUN_PATH {
        return UnixStream::connect(path).await;
    }
    if let Some(relative) = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|rel| !rel.as_os_str().is_empty() && rel.as_os_str().len() < SUN_PATH)
    {
        return UnixStream::connect(relative).await;
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return UnixStream::connect(path).await;
    };
    let dir = std::fs::File::open(dir)?;
    let short = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    let stream = UnixStream::connect(short).await;
    drop(dir);
    stream
}

/// Reads until the response to `id` (skipping notifications): a message
/// on the socket (the reply, or a notification before it) over
/// [`MAX_REPLY`] bytes fails the call as soon as it passes that, without
/// being kept. Only a message's own bytes count, so notifications before
/// the reply do not make it too large (issue 21, case 8); a socket that
/// sends small notifications for ever is stopped by the caller's timeout.
async fn read_reply(stream: &mut UnixStream, id: &str) -> Result<Value, SocketError> {
    let mut frames = FrameReader::with_limit(MAX_REPLY);
    let mut chunk = vec![0u8; 16 << 10];
    let mut received = 0;
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| SocketError::Io {
            what: "reading the reply",
            reason: e.to_string(),
        })?;
        if n == 0 {
            return Err(SocketError::Closed { received });
        }
        received += n;
        frames.push(&chunk[..n]);
        while let Some(frame) = frames.next_frame() {
            let reply =
                match frame {
                    Frame::Object(message) => serde_json::from_slice::<Value>(&message.bytes)
                        .map_err(|e| SocketError::NotJson {
                            reason: e.to_string(),
                            shown: preview(&message.bytes),
                        })?,
                    Frame::Garbage(bytes) => {
                        return Err(SocketError::NotJson {
                            reason: "not a JSON object".into(),
                            shown: preview(&bytes),
                        })
                    }
                    Frame::Broken {
                        bytes, reason, at, ..
                    } => {
                        return Err(SocketError::NotJson {
                            reason: format!("{reason} at byte {at}"),
                            shown: preview(&bytes),
                        })
                    }
                    Frame::Oversized { limit, .. } => return Err(SocketError::TooLarge { limit }),
                };
            match reply.get("id") {
                None => continue, // a notification
                Some(got) if got == id => return Ok(reply),
                Some(_) => {
                    return Err(SocketError::Unexpected(preview(
                        reply.to_string().as_bytes(),
                    )))
                }
            }
        }
        if frames.skipping_oversized().is_some() {
            return Err(SocketError::TooLarge { limit: MAX_REPLY });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Case 5 of issue 21: a socket whose path is longer than `sun_path`
    /// allows ("path must be shorter than SUN_LEN" before) is reached.
    #[tokio::test]
    async fn a_socket_path_longer_than_sun_path_is_reached() {
        let base = tempfile::tempdir().unwrap();
        let mut dir = base.path().to_path_buf();
        while dir.as_os_str().len() <= 2 * SUN_PATH {
            dir.push("a-directory-name-that-makes-the-path-long");
        }
        std::fs::create_dir_all(&dir).unwrap();
        let handle = std::fs::File::open(&dir).unwrap();
        let bind_at = Path::new("/proc/self/fd")
            .join(handle.as_raw_fd().to_string())
            .join("lightning-rpc");
        let listener = tokio::net::UnixListener::bind(&bind_at).unwrap();
        let path = dir.join("lightning-rpc");
        assert!(path.as_os_str().len() > SUN_PATH);
        let server = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
        connect(&path)
            .await
            .expect("connected through the long path");
        server.await.unwrap().unwrap();
    }

    /// Issue 21, case 8: the reply cap counted every byte read, so
    /// notifications before the reply (lightningd sends them on a socket
    /// that enabled them) made a small reply "larger than 1048576 bytes".
    /// Only the reply's own bytes count now.
    #[tokio::test]
    async fn notifications_before_the_reply_do_not_count_against_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lightning-rpc");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 4096];
            let n = conn.read(&mut request).await.unwrap();
            let request: Value = serde_json::from_slice(&request[..n]).unwrap();
            let note = json!({"jsonrpc": "2.0", "method": "message",
                "params": {"message": "n".repeat(MAX_REPLY / 2)}});
            for _ in 0..3 {
                conn.write_all(format!("{note}\n\n").as_bytes())
                    .await
                    .unwrap();
            }
            let reply = json!({"jsonrpc": "2.0", "id": request["id"], "result": {"id": "02ab"}});
            conn.write_all(format!("{reply}\n\n").as_bytes())
                .await
                .unwrap();
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest).await;
        });
        let result = call(&path, "getinfo", &json!({}), None).await;
        assert_eq!(result.unwrap(), json!({"id": "02ab"}));
        server.abort();
    }
}
