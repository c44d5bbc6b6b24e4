//! Where the Docker engine is, whether it answers, and whether it has an
//! image (or can get it).
//!
//! The address is the one testcontainers uses (`engine_host`). The probes
//! are plain HTTP/1.0 `GET`s to it, so that the build script can run them
//! too and give a skipped test the same one-line reason the run-time check
//! gives.

use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::Duration;

pub use super::engine_host::Located;
use super::engine_host::{locate, ThisMachine};

/// How long a probe waits for the engine to connect and answer. Asking a
/// registry about an image (`/distribution`) can take a few seconds.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine this process uses, located once (see `engine_host`), or why
/// there is none testcontainers could use.
pub fn located() -> Result<Located, String> {
    static LOCATED: OnceLock<Result<Located, String>> = OnceLock::new();
    LOCATED.get_or_init(|| locate(&ThisMachine)).clone()
}

/// The engine address of [`located`].
pub fn docker_host() -> Result<String, String> {
    located().map(|l| l.host)
}

/// `Ok` when the engine of [`located`] answers `/_ping`, else the one-line
/// reason shown for every skipped docker-backed test (and in the error
/// under `ITEST_REQUIRE=1`).
pub fn check() -> Result<(), String> {
    let located = located()?;
    ping(&located.host).map_err(|detail| unreachable_message(&located, &detail))
}

/// What to tell a user whose engine (found at `located`) failed with
/// `detail`.
pub fn unreachable_message(located: &Located, detail: &str) -> String {
    format!(
        "Docker engine not reachable at {} (from {}; {detail}): start it (as root: `dockerd &`, or `systemctl start docker`) or set DOCKER_HOST to a running engine",
        located.host, located.source
    )
}

/// One `GET /_ping` to the engine at `host`; `Err` says what went wrong.
pub fn ping(host: &str) -> Result<(), String> {
    match get(host, "/_ping")? {
        (200, _) => Ok(()),
        (status, _) => Err(format!("/_ping answered {status}, not 200")),
    }
}

/// What the engine says of itself (`/info`), as far as the harness cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineInfo {
    /// `linux` (or `windows`): what its containers run.
    pub os_type: String,
    /// `x86_64`, `aarch64`, ...: the machine its containers run on.
    pub architecture: String,
    /// `Docker Desktop`, `Debian GNU/Linux 12 (bookworm)`, ...
    pub operating_system: String,
    /// Rootless dockerd: its "host" network is a namespace of its own.
    pub rootless: bool,
}

impl EngineInfo {
    /// Reads the fields out of `/info`'s JSON body.
    pub fn parse(body: &str) -> Self {
        Self {
            os_type: string_field(body, "OSType"),
            architecture: string_field(body, "Architecture"),
            operating_system: string_field(body, "OperatingSystem"),
            rootless: body.contains("name=rootless"),
        }
    }

    /// Docker Desktop runs its engine in a VM.
    pub fn is_desktop(&self) -> bool {
        self.operating_system.contains("Docker Desktop")
    }
}

/// The engine at `host`'s [`EngineInfo`].
pub fn info(host: &str) -> Result<EngineInfo, String> {
    match get(host, "/info")? {
        (200, body) => Ok(EngineInfo::parse(&body)),
        (status, body) => Err(format!(
            "the Docker engine at {host} answered {status} to /info: {}",
            message(&body)
        )),
    }
}

/// Why containers of the engine at `located` (which says `info`) cannot
/// share this machine's network and paths (host networking, same-path
/// bind mounts); `None` when they can: an engine on this Linux kernel,
/// reached by its unix socket, neither Docker Desktop's VM nor rootless. A
/// `tcp://` engine may be anywhere, so it is not taken to share anything.
pub fn not_shared(located: &Located, info: &EngineInfo, linux: bool) -> Option<String> {
    if !linux {
        return Some("host networking and same-path bind mounts need Linux".into());
    }
    if info.is_desktop() {
        return Some(format!(
            "the engine at {} is Docker Desktop, which runs containers in a VM",
            located.host
        ));
    }
    if info.rootless {
        return Some(format!(
            "the engine at {} is rootless: its host network is a namespace of its own",
            located.host
        ));
    }
    if located.is_tcp() {
        return Some(format!(
            "the engine at {} is reached over TCP, so it may run on another machine",
            located.host
        ));
    }
    None
}

/// `Ok` when the engine of [`located`] answers and its containers can
/// share this machine ([`not_shared`]), else why not (one line). The build
/// script's, for tests of containers that share this machine.
#[allow(dead_code)]
pub fn check_shared() -> Result<(), String> {
    check()?;
    let located = located()?;
    let info = info(&located.host)?;
    match not_shared(&located, &info, cfg!(target_os = "linux")) {
        None => Ok(()),
        Some(why) => Err(format!(
            "needs a Docker engine whose containers share this machine's network and paths: {why}"
        )),
    }
}

/// The string value of `"key":"..."` in a JSON body, unescaped; empty if
/// absent.
fn string_field(body: &str, key: &str) -> String {
    let needle = format!("\"{key}\":\"");
    match body.find(&needle) {
        Some(at) => unescape_until_quote(&body[at + needle.len()..]),
        None => String::new(),
    }
}

/// The text up to the first unescaped `"`, with `\x` read as `x`.
fn unescape_until_quote(rest: &str) -> String {
    let mut text = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => text.push(' '),
                Some(other) => text.push(other),
                None => break,
            },
            c => text.push(c),
        }
    }
    text
}

/// `Ok` when the engine at `host` has `image` (`name:tag`) or its registry
/// offers it (so starting a container would pull it), else the one-line
/// reason, saying how to get the image.
pub fn image_available(host: &str, image: &str, var: &str) -> Result<(), String> {
    match get(host, &format!("/images/{image}/json"))? {
        (200, _) => return Ok(()),
        (404, _) => {}
        (status, body) => {
            return Err(format!(
                "the Docker engine at {host} answered {status} about image {image}: {}",
                message(&body)
            ))
        }
    }
    // Asks the registry for the manifest without pulling anything.
    match get(host, &format!("/distribution/{image}/json"))? {
        (200, _) => Ok(()),
        (_, body) => Err(format!(
            "image {image} is not in the local image store of the Docker engine at {host}, and its registry cannot provide it ({}): build it with scripts/images.sh (see itest/README.md, \"Backends and images\"), `docker pull` it, or name another in {var}",
            message(&body)
        )),
    }
}

/// The `message` of an engine's JSON error body (`{"message":"..."}`),
/// unescaped, else the body itself; on one line.
fn message(body: &str) -> String {
    let text = match body.split_once(r#""message":""#) {
        Some((_, rest)) => unescape_until_quote(rest),
        None => body.to_string(),
    };
    text.trim().replace('\n', " ")
}

/// `host:port` of a `tcp://` or `http://` engine address (without any
/// path), `None` for other schemes.
pub fn tcp_authority(host: &str) -> Option<&str> {
    let rest = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// One HTTP/1.0 `GET path` to the engine at `host`: the status code and
/// body (the first 64 KiB).
pub fn get(host: &str, path: &str) -> Result<(u16, String), String> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n");
    let mut reply = Vec::new();
    if let Some(socket) = host.strip_prefix("unix://") {
        let mut stream = std::os::unix::net::UnixStream::connect(socket)
            .map_err(|e| format!("connecting to {socket}: {e}"))?;
        stream.set_read_timeout(Some(PROBE_TIMEOUT)).ok();
        stream.set_write_timeout(Some(PROBE_TIMEOUT)).ok();
        exchange(&mut stream, request.as_bytes(), &mut reply)?;
    } else if let Some(addr) = tcp_authority(host) {
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
        exchange(&mut stream, request.as_bytes(), &mut reply)?;
    } else {
        return Err("only unix://, tcp:// and http:// addresses are supported".into());
    }
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP reply: {status_line:?}"))?;
    Ok((status, body.to_string()))
}

fn exchange(
    stream: &mut (impl Read + Write),
    request: &[u8],
    reply: &mut Vec<u8>,
) -> Result<(), String> {
    stream
        .write_all(request)
        .map_err(|e| format!("sending a request: {e}"))?;
    // HTTP/1.0: the engine closes the connection after its reply. Stop
    // early on a large or endless reply.
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.len() > 64 * 1024 {
                    return Ok(());
                }
            }
            Err(e) if reply.is_empty() => return Err(format!("reading the reply: {e}")),
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
        let located = Located {
            host,
            source: "DOCKER_HOST".into(),
        };
        let message = unreachable_message(&located, &detail);
        assert!(
            message.starts_with("Docker engine not reachable at unix://"),
            "{message}"
        );
        assert!(message.contains("docker.sock"), "{message}");
        assert!(message.contains("from DOCKER_HOST"), "{message}");
        assert!(message.contains("dockerd"), "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }

    /// A fake engine on a unix socket answering each request in turn with
    /// the next of `replies`; returns its address.
    fn fake_engine(dir: &std::path::Path, replies: Vec<&'static str>) -> String {
        let path = dir.join("fake.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for reply in replies {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf);
                conn.write_all(reply.as_bytes()).unwrap();
            }
        });
        format!("unix://{}", path.display())
    }

    #[test]
    fn a_socket_that_is_not_an_engine_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let host = fake_engine(dir.path(), vec!["HTTP/1.0 404 Not Found\r\n\r\nnope"]);
        let err = ping(&host).unwrap_err();
        assert!(err.contains("404"), "{err}");
    }

    #[test]
    fn an_image_neither_local_nor_pullable_says_how_to_get_one() {
        let dir = tempfile::tempdir().unwrap();
        let host = fake_engine(
            dir.path(),
            vec![
                "HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"No such image: x:y\"}",
                "HTTP/1.0 500 Internal Server Error\r\n\r\n{\"message\":\"Get \\\"https://registry-1.docker.io/v2/\\\": no such host\"}\n",
            ],
        );
        let err = image_available(&host, "x:y", "ITEST_X_IMAGE").unwrap_err();
        for part in [
            "x:y",
            "scripts/images.sh",
            "ITEST_X_IMAGE",
            "registry-1.docker.io",
        ] {
            assert!(err.contains(part), "{part:?} missing: {err}");
        }
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn a_local_or_pullable_image_is_available() {
        let dir = tempfile::tempdir().unwrap();
        let local = fake_engine(dir.path(), vec!["HTTP/1.0 200 OK\r\n\r\n{}"]);
        image_available(&local, "x:y", "V").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pullable = fake_engine(
            dir.path(),
            vec![
                "HTTP/1.0 404 Not Found\r\n\r\n{}",
                "HTTP/1.0 200 OK\r\n\r\n{}",
            ],
        );
        image_available(&pullable, "x:y", "V").unwrap();
    }

    #[test]
    fn info_is_read_and_only_a_local_linux_engine_on_its_socket_shares_this_machine() {
        let body = r#"{"ID":"x","OSType":"linux","Architecture":"x86_64","SecurityOptions":["name=seccomp,profile=default"],"OperatingSystem":"Debian GNU/Linux 12 (bookworm)"}"#;
        let plain = EngineInfo::parse(body);
        assert_eq!(
            plain,
            EngineInfo {
                os_type: "linux".into(),
                architecture: "x86_64".into(),
                operating_system: "Debian GNU/Linux 12 (bookworm)".into(),
                rootless: false,
            }
        );
        let socket = Located {
            host: "unix:///var/run/docker.sock".into(),
            source: "DOCKER_HOST".into(),
        };
        assert_eq!(not_shared(&socket, &plain, true), None);
        assert!(not_shared(&socket, &plain, false)
            .unwrap()
            .contains("Linux"));
        let desktop = EngineInfo::parse(r#"{"OperatingSystem":"Docker Desktop","OSType":"linux"}"#);
        assert!(not_shared(&socket, &desktop, true)
            .unwrap()
            .contains("Docker Desktop"));
        let rootless = EngineInfo::parse(r#"{"SecurityOptions":["name=seccomp","name=rootless"]}"#);
        assert!(not_shared(&socket, &rootless, true)
            .unwrap()
            .contains("rootless"));
        let tcp = Located {
            host: "tcp://10.0.0.5:2375".into(),
            source: "DOCKER_HOST".into(),
        };
        assert!(not_shared(&tcp, &plain, true).unwrap().contains("TCP"));
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(ping("ssh://somewhere").unwrap_err().contains("unix://"));
        assert_eq!(tcp_authority("tcp://h:2375"), Some("h:2375"));
        assert_eq!(tcp_authority("http://h:2375/"), Some("h:2375"));
        assert_eq!(tcp_authority("unix:///x"), None);
    }
}
