//! Connecting to lightningd's socket however long its path is.
//!
//! A unix socket's path must fit in `sun_path` (108 bytes on Linux, 104 on
//! macOS and the BSDs, its NUL included). lightningd itself copes with any
//! lightning-dir: it `chdir()`s there and binds `lightning-rpc` by that
//! relative name (lightningd/options.c, lightningd/jsonrpc.c), and
//! lightning-cli `chdir()`s there too. A harness cannot `chdir()` (its
//! threads share one working directory), so a longer path is reached by a
//! shorter name for the same socket: on Linux `/proc/self/fd/<fd>/<name>`,
//! with the socket's directory open as `<fd>`; elsewhere a symlink to the
//! socket in a fresh directory under the system temp dir (`connect(2)`
//! follows symlinks, and only the link's own path must fit). The short name
//! lives only while connecting.

use std::path::{Path, PathBuf};

use cln_rpc::ClnRpc;

/// The longest path `connect(2)` takes everywhere we run (macOS's 104
/// bytes, less the NUL).
const MAX_SOCKET_PATH: usize = 103;

/// A cln-rpc client connected to the socket at `path`, whatever its length.
pub(crate) async fn cln_rpc(path: &Path) -> anyhow::Result<ClnRpc> {
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        return ClnRpc::new(path).await;
    }
    let short = ShortName::new(path)?;
    ClnRpc::new(&short.path).await
}

/// A unix listener at `path`, whatever its length: bound by its short
/// name on Linux (the socket file lands at `path`); elsewhere bound in a
/// fresh directory under the system temp dir and renamed to `path` (a
/// socket file keeps working under a new name on the same file system).
pub(crate) fn bind(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::net::UnixListener;
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        return UnixListener::bind(path);
    }
    #[cfg(target_os = "linux")]
    if let Some(short) = ShortName::in_proc(path) {
        return UnixListener::bind(&short?.path);
    }
    bind_and_rename(path)
}

/// [`bind`]'s portable way: bound under a short name, then renamed.
fn bind_and_rename(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::net::UnixListener;
    let dir = tempfile::Builder::new().prefix("itest-rpc-").tempdir()?;
    let short = dir.path().join("s");
    let listener = UnixListener::bind(&short)?;
    std::fs::rename(&short, path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "moving the socket bound at {} to {} (its path is too long to bind directly): {e}",
                short.display(),
                path.display()
            ),
        )
    })?;
    Ok(listener)
}

/// A short name for a socket with a long path; valid while it lives.
struct ShortName {
    path: PathBuf,
    /// What keeps the name valid: the directory's descriptor, or the
    /// directory holding the symlink.
    _keep: Keep,
}

enum Keep {
    #[cfg(target_os = "linux")]
    Dir(#[allow(dead_code)] std::fs::File),
    Link(#[allow(dead_code)] tempfile::TempDir),
}

impl ShortName {
    fn new(socket: &Path) -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        if let Some(short) = Self::in_proc(socket) {
            return short;
        }
        Self::symlink(socket)
    }

    /// `/proc/self/fd/<fd>/<name>`, with the socket's directory open as
    /// `<fd>`: a name `connect(2)` and `bind(2)` both resolve to the
    /// socket's own path. `None` where it does not apply.
    #[cfg(target_os = "linux")]
    fn in_proc(socket: &Path) -> Option<std::io::Result<Self>> {
        use std::os::fd::AsRawFd;
        let (dir, name) = (socket.parent()?, socket.file_name()?);
        if !Path::new("/proc/self/fd").is_dir() {
            return None;
        }
        let dir = match std::fs::File::open(dir) {
            Ok(dir) => dir,
            Err(e) => return Some(Err(e)),
        };
        let path = Path::new("/proc/self/fd")
            .join(dir.as_raw_fd().to_string())
            .join(name);
        (path.as_os_str().len() <= MAX_SOCKET_PATH).then_some(Ok(Self {
            path,
            _keep: Keep::Dir(dir),
        }))
    }

    /// The portable way: a symlink in a fresh directory under the system
    /// temp dir.
    fn symlink(socket: &Path) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("itest-rpc-").tempdir()?;
        let path = dir.path().join("s");
        std::os::unix::fs::symlink(socket, &path)?;
        Ok(Self {
            path,
            _keep: Keep::Link(dir),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory whose `lightning-rpc` has a path far over `sun_path`.
    fn long_dir(base: &Path) -> PathBuf {
        let mut dir = base.to_path_buf();
        while dir.as_os_str().len() <= 2 * MAX_SOCKET_PATH {
            dir.push("a-directory-name-that-makes-the-path-long");
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Serves one `getinfo` on a listener bound at `socket` by [`bind`].
    async fn serve_one(socket: &Path) -> tokio::task::JoinHandle<()> {
        let listener = bind(socket).unwrap();
        assert!(socket.exists(), "the socket file is at its own path");
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::UnixListener::from_std(listener).unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = conn.read(&mut buf).await.unwrap();
            let request: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
            let reply = serde_json::json!({"jsonrpc": "2.0", "id": request["id"],
                "result": {"id": "02ab"}});
            conn.write_all(format!("{reply}\n\n").as_bytes())
                .await
                .unwrap();
            // Open until the client is done, as lightningd keeps it.
            let _ = conn.read_to_end(&mut buf).await;
        })
    }

    #[tokio::test]
    async fn a_socket_path_longer_than_sun_path_is_reached() {
        let base = tempfile::tempdir().unwrap();
        let socket = long_dir(base.path()).join("lightning-rpc");
        assert!(socket.as_os_str().len() > 108);
        let server = serve_one(&socket).await;
        let mut rpc = cln_rpc(&socket).await.expect("connected");
        let result: serde_json::Value = rpc
            .call_raw("getinfo", &serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(result["id"], "02ab");
        drop(rpc);
        server.await.unwrap();
    }

    #[test]
    fn the_portable_bind_leaves_a_working_socket_at_the_long_path() {
        // The rename needs one file system: a long path under the temp dir.
        let base = tempfile::tempdir().unwrap();
        let socket = long_dir(base.path()).join("lightning-rpc");
        let listener = bind_and_rename(&socket).unwrap();
        assert!(socket.exists());
        let short = ShortName::symlink(&socket).unwrap();
        let _client = std::os::unix::net::UnixStream::connect(&short.path).expect("connected");
        listener.accept().expect("the listener sees the client");
    }

    #[tokio::test]
    async fn the_fallback_is_a_short_symlink_that_connects() {
        let base = tempfile::tempdir().unwrap();
        let socket = long_dir(base.path()).join("lightning-rpc");
        let server = serve_one(&socket).await;
        let link = ShortName::symlink(&socket).unwrap();
        assert!(link.path.as_os_str().len() <= MAX_SOCKET_PATH);
        let mut rpc = ClnRpc::new(&link.path).await.expect("connected");
        let result: serde_json::Value = rpc
            .call_raw("getinfo", &serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(result["id"], "02ab");
        drop(rpc);
        server.await.unwrap();
    }
}
