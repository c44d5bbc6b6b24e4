//! Where the Docker engine is, and whether it answers.
//!
//! The address follows the Docker CLI and testcontainers: `DOCKER_HOST`
//! when set, else `unix:///var/run/docker.sock`. The probe is one
//! `GET /_ping` over that socket, written with `std` only so that the
//! build script can share this file (via `#[path]`, like `lookup.rs`) and
//! decide at compile time whether docker-backed tests are ignored, with the
//! same one-line reason the run-time check gives.

use std::io::{Read, Write};
use std::time::Duration;

/// The engine address testcontainers uses when `DOCKER_HOST` is unset.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// How long the probe waits for the engine to connect and answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The engine address: `DOCKER_HOST` if set and non-empty, else the default.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string())
}

/// `Ok` when the engine at [`docker_host`] answers `/_ping`, else the
/// one-line reason shown for every skipped docker-backed test (and in the
/// error under `ITEST_REQUIRE=1`).
pub fn check() -> Result<(), String> {
    let host = docker_host();
    ping(&host).map_err(|detail| unreachable_message(&host, &detail))
}

/// What to tell a user whose engine at `host` failed with `detail`.
pub fn unreachable_message(host: &str, detail: &str) -> String {
    format!(
        "Docker engine not reachable at {host} ({detail}): start it (as root: `dockerd &`, or `systemctl start docker`) or set DOCKER_HOST to a running engine"
    )
}

/// One `GET /_ping` to the engine at `host`; `Err` says what went wrong.
pub fn ping(host: &str) -> Result<(), String> {
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let mut reply = Vec::new();
    if let Some(path) = host.strip_prefix("unix://") {
        let mut stream = std::os::unix::net::UnixStream::connect(path)
            .map_err(|e| format!("connecting to {path}: {e}"))?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT)).ok();
        stream.set_write_timeout(Some(PROBE_TIMEOUT)).ok();
        exchange(&mut stream, request, &mut reply)?;
    } else if let Some(addr) = host.strip_prefix("tcp://") {
        use std::net::ToSocketAddrs;
        let addr = addr
            .to_socket_addrs()
            .map_err(|e| format!("resolving {addr}: {e}"))?
            .next()
            .ok_or_else(|| format!("{addr} resolves to no address"))?;
        let mut stream = std::net::TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT)).ok();
        stream.set_write_timeout(Some(PROBE_TIMEOUT)).ok();
        exchange(&mut stream, request, &mut reply)?;
    } else {
        return Err("only unix:// and tcp:// addresses are supported".into());
    }
    let reply = String::from_utf8_lossy(&reply);
    let status = reply.lines().next().unwrap_or_default();
    if status.starts_with("HTTP/1.") && status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("/_ping answered {status:?}, not 200"))
    }
}

fn exchange(
    stream: &mut (impl Read + Write),
    request: &[u8],
    reply: &mut Vec<u8>,
) -> Result<(), String> {
    stream
        .write_all(request)
        .map_err(|e| format!("sending /_ping: {e}"))?;
    // HTTP/1.0: the engine closes the connection after its reply. Only the
    // status line matters, so stop early on a large or endless reply.
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.len() > 64 * 1024 {
                    return Ok(());
                }
            }
            Err(e) if reply.is_empty() => return Err(format!("reading the /_ping reply: {e}")),
            Err(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn a_missing_socket_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}/docker.sock", dir.path().display());
        let detail = ping(&host).unwrap_err();
        let message = unreachable_message(&host, &detail);
        assert!(
            message.starts_with("Docker engine not reachable at unix://"),
            "{message}"
        );
        assert!(message.contains("docker.sock"), "{message}");
        assert!(message.contains("DOCKER_HOST"), "{message}");
        assert!(message.contains("dockerd"), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }

    #[test]
    fn a_socket_that_is_not_an_engine_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = conn.read(&mut buf);
            conn.write_all(b"HTTP/1.0 404 Not Found\r\n\r\nnope")
                .unwrap();
        });
        let err = ping(&format!("unix://{}", path.display())).unwrap_err();
        server.join().unwrap();
        assert!(err.contains("404"), "{err}");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(ping("ssh://somewhere").unwrap_err().contains("unix://"));
    }
}
