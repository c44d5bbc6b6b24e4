//! Test doubles for lightningd's two sides: the pipes it drives the plugin
//! with, and the RPC socket the plugin calls back on.
//!
//! These are protocol unit tests of the built `myplugin` binary; the real
//! thing (a real lightningd) is exercised by the `itest` crate.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long any single expected event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// The built plugin, running with piped stdin/stdout/stderr.
pub struct PluginProc {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    buf: Vec<u8>,
    /// `log` notifications seen while waiting for other messages.
    pub logs: Vec<Value>,
    /// The exact text of the last message read (for byte-level checks).
    pub last_raw: String,
    writer: Option<tokio::task::JoinHandle<ChildStdin>>,
}

impl PluginProc {
    pub fn spawn() -> Self {
        Self::spawn_with_env(&[])
    }

    /// Like `spawn`, with extra environment variables for the plugin.
    pub fn spawn_with_env(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_myplugin"))
            // lightningd v23.11+ passes this; it must be ignored.
            .arg("--developer")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn myplugin");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        Self {
            child,
            stdin,
            stdout,
            buf: Vec::new(),
            logs: Vec::new(),
            last_raw: String::new(),
            writer: None,
        }
    }

    /// Writes raw bytes to the plugin's stdin.
    pub async fn write(&mut self, bytes: impl AsRef<[u8]>) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes.as_ref()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Sends one message the way lightningd does: compact JSON + `\n\n`.
    pub async fn send(&mut self, message: &Value) {
        self.write(format!("{message}\n\n")).await;
    }

    /// Takes the plugin's stdin, for a test that writes from another task.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.stdin.take().expect("stdin still open")
    }

    /// Writes `bytes` from a task of its own, so that the test can read
    /// replies meanwhile: the plugin writes its replies before it reads
    /// more, so a large write with nobody reading stdout would block both
    /// sides. [`PluginProc::join_writer`] waits for it and gives stdin back.
    pub fn write_in_background(&mut self, bytes: impl Into<Vec<u8>>) {
        let mut stdin = self.take_stdin();
        let bytes = bytes.into();
        self.writer = Some(tokio::spawn(async move {
            stdin.write_all(&bytes).await.unwrap();
            stdin.flush().await.unwrap();
            stdin
        }));
    }

    /// Waits for [`PluginProc::write_in_background`] to finish.
    pub async fn join_writer(&mut self) {
        let writer = self.writer.take().expect("a background write");
        let stdin = tokio::time::timeout(WAIT, writer)
            .await
            .expect("the plugin did not read its stdin")
            .unwrap();
        self.stdin = Some(stdin);
    }

    /// The plugin's resident memory in KiB, from /proc.
    pub fn vm_rss_kib(&self) -> u64 {
        self.vm_kib("VmRSS:")
    }

    /// The plugin's peak resident memory so far in KiB, from /proc.
    pub fn vm_hwm_kib(&self) -> u64 {
        self.vm_kib("VmHWM:")
    }

    /// The system call the plugin is blocked in, once it is blocked in one
    /// (`/proc/<pid>/syscall` says "running" while it runs).
    pub async fn blocking_syscall(&self) -> i64 {
        let pid = self.child.id().expect("plugin still running");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap();
            if let Some(Ok(nr)) = text.split_whitespace().next().map(str::parse) {
                return nr;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the plugin never blocked"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn vm_kib(&self, field: &str) -> u64 {
        let pid = self.child.id().expect("plugin still running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/<pid>/status"))
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Next message on stdout, held to the writer contract: every message is
    /// one compact JSON object followed by exactly `\n\n`, with nothing else
    /// in between.
    pub async fn next_message(&mut self) -> Value {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let raw: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = std::str::from_utf8(&raw[..end]).expect("stdout is UTF-8");
                assert!(!text.contains('\n'), "message spans lines: {text:?}");
                let value: Value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("stdout carried non-JSON {text:?}: {e}"));
                assert!(value.is_object(), "not an object: {text}");
                assert_eq!(value["jsonrpc"], "2.0", "missing jsonrpc: {text}");
                self.last_raw = text.to_owned();
                return value;
            }
            let mut chunk = [0u8; 65536];
            let n = tokio::time::timeout(WAIT, self.stdout.read(&mut chunk))
                .await
                .expect("timed out waiting for plugin output")
                .unwrap();
            assert!(
                n > 0,
                "plugin closed stdout; pending bytes: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Next message that is not a `log` notification (logs are kept).
    pub async fn next_reply(&mut self) -> Value {
        loop {
            let message = self.next_message().await;
            if message["method"] == "log" {
                self.logs.push(message);
            } else {
                return message;
            }
        }
    }

    /// Next `log` notification, skipping nothing else: a reply arriving
    /// first fails the test.
    pub async fn next_log(&mut self) -> Value {
        let message = self.next_message().await;
        assert_eq!(
            message["method"], "log",
            "expected a log line, got {message}"
        );
        message["params"].clone()
    }

    /// Sends a request and returns its reply.
    pub async fn request(&mut self, id: Value, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.next_reply().await
    }

    /// Does the `getmanifest` + `init` handshake against `lightning_dir`.
    pub async fn handshake(&mut self, lightning_dir: &Path, options: Value) {
        self.request(
            json!(0),
            "getmanifest",
            json!({"allow-deprecated-apis": false}),
        )
        .await;
        let reply = self
            .request(
                json!("cln:init#1"),
                "init",
                init_params(lightning_dir, options),
            )
            .await;
        assert_eq!(
            reply,
            json!({"jsonrpc": "2.0", "id": "cln:init#1", "result": {}})
        );
    }

    /// Waits for the process to end and returns its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("plugin did not exit")
            .unwrap();
        status.code()
    }

    pub async fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut text).await.unwrap();
        }
        text
    }
}

/// `init` params shaped like lightningd's.
pub fn init_params(lightning_dir: &Path, options: Value) -> Value {
    json!({
        "options": options,
        "configuration": {
            "lightning-dir": lightning_dir,
            "rpc-file": "lightning-rpc",
            "startup": false,
            "network": "regtest",
            "feature_set": {"init": "", "node": "", "channel": "", "invoice": ""},
        }
    })
}

/// How the stand-in answers `getinfo`.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    Answer,
    AnswerAfter(Duration),
    HangUp,
    /// Reads the request and never answers, keeping the connection open.
    Hang,
    Error,
    /// Answers with an error after a while.
    ErrorAfter(Duration),
    /// Answers with this many bytes of one never-ending JSON string.
    Flood(usize),
    /// Answers like an HTTP server: not JSON at all.
    NotJson,
    /// Answers with an error whose message is this many bytes long.
    ErrorOfLen(usize),
    /// The first this many connections hang (as `Hang`); later ones are
    /// answered.
    HangFirst(usize),
}

/// A unix socket that answers `getinfo` like lightningd's RPC does.
pub struct StandIn {
    pub dir: tempfile::TempDir,
    pub node_id: String,
    /// Requests read.
    pub getinfo_calls: Arc<AtomicUsize>,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
}

impl StandIn {
    /// A lightning-dir with no RPC socket in it (yet).
    pub fn without_socket() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Unique per run, never a constant the plugin could have baked in.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let node_id = format!("02{:064x}", seed ^ (std::process::id() as u128) << 64);
        Self {
            dir,
            node_id,
            getinfo_calls: Arc::new(AtomicUsize::new(0)),
            connections: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn start(behaviour: Behaviour) -> Self {
        let stand_in = Self::without_socket();
        stand_in.listen(behaviour);
        stand_in
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("lightning-rpc")
    }

    /// Binds the socket and serves it in the background.
    pub fn listen(&self, behaviour: Behaviour) {
        let listener = UnixListener::bind(self.socket()).unwrap();
        let node_id = self.node_id.clone();
        let calls = Arc::clone(&self.getinfo_calls);
        let connections = Arc::clone(&self.connections);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let earlier = connections.fetch_add(1, Ordering::SeqCst);
                let node_id = node_id.clone();
                let calls = Arc::clone(&calls);
                tokio::spawn(async move {
                    let Some(request) = read_one_object(&mut conn).await else {
                        return;
                    };
                    assert_eq!(request["method"], "getinfo");
                    calls.fetch_add(1, Ordering::SeqCst);
                    let reply = match behaviour {
                        Behaviour::HangUp => return,
                        Behaviour::HangFirst(n) if earlier >= n => {
                            getinfo_reply(&request["id"], &node_id)
                        }
                        Behaviour::Hang | Behaviour::HangFirst(_) => {
                            let mut rest = Vec::new();
                            let _ = conn.read_to_end(&mut rest).await;
                            return;
                        }
                        Behaviour::AnswerAfter(delay) => {
                            tokio::time::sleep(delay).await;
                            getinfo_reply(&request["id"], &node_id)
                        }
                        Behaviour::Answer => getinfo_reply(&request["id"], &node_id),
                        Behaviour::Error => json!({"jsonrpc": "2.0", "id": request["id"],
                            "error": {"code": -1, "message": "stand-in says no"}}),
                        Behaviour::ErrorOfLen(len) => {
                            json!({"jsonrpc": "2.0", "id": request["id"],
                                "error": {"code": -1, "message": "e".repeat(len)}})
                        }
                        Behaviour::ErrorAfter(delay) => {
                            tokio::time::sleep(delay).await;
                            json!({"jsonrpc": "2.0", "id": request["id"],
                                "error": {"code": -1, "message": "stand-in says no"}})
                        }
                        Behaviour::Flood(len) => {
                            let head = format!(
                                r#"{{"jsonrpc":"2.0","id":{},"result":{{"id":""#,
                                request["id"]
                            );
                            let _ = conn.write_all(head.as_bytes()).await;
                            let chunk = vec![b'x'; 1 << 20];
                            let mut left = len;
                            while left > 0 {
                                let n = left.min(chunk.len());
                                if conn.write_all(&chunk[..n]).await.is_err() {
                                    return; // the plugin hung up: what we want
                                }
                                left -= n;
                            }
                            let mut rest = Vec::new();
                            let _ = conn.read_to_end(&mut rest).await;
                            return;
                        }
                        Behaviour::NotJson => {
                            let _ = conn
                                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                                .await;
                            let mut rest = Vec::new();
                            let _ = conn.read_to_end(&mut rest).await;
                            return;
                        }
                    };
                    let _ = conn.write_all(format!("{reply}\n\n").as_bytes()).await;
                    // Keep the connection open as lightningd would.
                    let mut rest = Vec::new();
                    let _ = conn.read_to_end(&mut rest).await;
                });
            }
        });
    }
}

/// A getinfo result typed like v23.02's with deprecated APIs on
/// (`fees_collected_msat` as a string): the plugin must cope.
fn getinfo_reply(id: &Value, node_id: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {
        "id": node_id, "alias": "STANDIN", "color": "02abcd", "num_peers": 0,
        "num_pending_channels": 0, "num_active_channels": 0, "num_inactive_channels": 0,
        "address": [], "binding": [], "version": "v23.02.2", "blockheight": 101,
        "network": "regtest", "msatoshi_fees_collected": 0, "fees_collected_msat": "0msat",
        "lightning-dir": "/tmp/x/regtest",
        "our_features": {"init": "", "node": "", "channel": "", "invoice": ""}
    }})
}

async fn read_one_object(conn: &mut tokio::net::UnixStream) -> Option<Value> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut stream = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        if let Some(Ok(value)) = stream.next() {
            return Some(value);
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A `myplugin` call with id `id` and params `[id]`, ended by a blank
/// line as lightningd ends what it writes.
#[allow(dead_code)] // not every test binary uses every helper
pub fn call(id: &str) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "myplugin", "params": [id]})
        .to_string()
        + "\n\n"
}

/// A plugin (with `env`) past the handshake that already knows its node
/// id, so that calls are answered at once, in the order they arrive;
/// what it logged so far is cleared.
#[allow(dead_code)]
pub async fn warm_plugin(node: &StandIn, env: &[(&str, &str)]) -> PluginProc {
    let mut plugin = PluginProc::spawn_with_env(env);
    plugin.handshake(node.path(), serde_json::json!({})).await;
    let reply = plugin
        .request(
            serde_json::json!("warm-up"),
            "myplugin",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(reply["result"]["node_id"], node.node_id, "{reply}");
    plugin.logs.clear();
    plugin
}

/// The next reply must be the answer to `call(id)`: nothing came before it.
#[allow(dead_code)]
pub async fn expect_served(plugin: &mut PluginProc, id: &str) {
    let reply = plugin.next_reply().await;
    assert_eq!(reply["id"], id, "another reply came first: {reply}");
    assert_eq!(
        reply["result"]["cli_params"],
        serde_json::json!([id]),
        "{reply}"
    );
}
