//! itest's plugin relay: lightningd starts it in place of a traced plugin
//! (through a wrapper with the plugin's file name), and it starts the real
//! plugin, copies lightningd's stdin to the plugin and the plugin's stdout
//! to lightningd, byte for byte, and appends each JSON message it sees
//! to a trace file, with the time it was read and its direction.
//!
//! Usage: `plugin-relay <trace-file> <plugin> [args...]`.
//!
//! It is std-only, so build.rs compiles it with rustc alone (see
//! `build/shim.rs`). What it must not do is change what the two sides see:
//! - every chunk read is forwarded whole, at once, unchanged (no
//!   re-framing, no buffering until a message is complete);
//! - a message is written to the trace before the chunk that completes it
//!   is forwarded, so whoever reads the trace after the other side reacted
//!   finds the message there, even if lightningd then kills the relay;
//! - the plugin dies with the relay (Linux's parent death signal), as it
//!   would when lightningd kills it directly; the relay exits when the
//!   plugin closes its stdout, with the plugin's exit code.
//!
//! The trace is a sequence of records, each a header line
//! `itest-trace <kind> <unix-nanos> <length>` and then `length` bytes and
//! a newline. Kinds: `start` (the relay started the plugin: a JSON object
//! with its pid), `to-plugin`, `from-plugin` (one message each, as sent;
//! bytes outside any JSON value are recorded up to the end of their line),
//! `end` (the plugin exited: its status).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The trace file, shared by both directions; one write per record.
type Trace = Arc<Mutex<File>>;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(trace_path), Some(plugin)) = (args.next(), args.next()) else {
        eprintln!("itest plugin relay: usage: plugin-relay <trace-file> <plugin> [args...]");
        std::process::exit(2);
    };
    // In a container that shares no paths, only the wrapper's directory
    // was copied in.
    if let Some(dir) = std::path::Path::new(&trace_path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&trace_path)
        .unwrap_or_else(|e| {
            eprintln!(
                "itest plugin relay: opening trace {}: {e}",
                trace_path.to_string_lossy()
            );
            std::process::exit(1);
        });
    let trace: Trace = Arc::new(Mutex::new(file));
    let mut command = Command::new(&plugin);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    die_with_parent(&mut command);
    let mut child = command.spawn().unwrap_or_else(|e| {
        eprintln!(
            "itest plugin relay: starting {}: {e}",
            plugin.to_string_lossy()
        );
        std::process::exit(1);
    });
    let start = format!(
        "{{\"pid\":{},\"relay_pid\":{},\"plugin\":{}}}",
        child.id(),
        std::process::id(),
        json_string(&plugin.to_string_lossy())
    );
    record(&trace, "start", start.as_bytes());

    // lightningd -> plugin, on its own thread; EOF closes the plugin's stdin.
    let mut to_plugin = child.stdin.take().expect("piped stdin");
    let down = trace.clone();
    std::thread::spawn(move || {
        // Unbuffered: std's Stdin would read ahead into its own buffer.
        let stdin = unsafe { File::from_raw_fd(0) };
        relay(stdin, &mut to_plugin, &down, "to-plugin");
    });

    // plugin -> lightningd, here, until the plugin closes its stdout.
    let from_plugin = child.stdout.take().expect("piped stdout");
    let mut stdout = unsafe { File::from_raw_fd(1) };
    relay(from_plugin, &mut stdout, &trace, "from-plugin");
    let status = child.wait();
    let code = match &status {
        Ok(status) => exit_code(status),
        Err(_) => 1,
    };
    let how = match status {
        Ok(status) => format!("{{\"status\":{}}}", json_string(&status.to_string())),
        Err(e) => format!("{{\"status\":{}}}", json_string(&e.to_string())),
    };
    record(&trace, "end", how.as_bytes());
    std::process::exit(code);
}

/// Copies `from` to `to` chunk by chunk, tracing each complete message
/// before forwarding the chunk that completes it. Returns at EOF or when
/// either side fails (the other side then sees EOF too).
fn relay(mut from: impl Read, to: &mut impl Write, trace: &Trace, kind: &str) {
    let mut framer = Framer::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        for message in framer.push(&chunk[..n]) {
            record(trace, kind, &message);
        }
        if to.write_all(&chunk[..n]).and_then(|()| to.flush()).is_err() {
            break;
        }
    }
    if let Some(rest) = framer.rest() {
        record(trace, kind, &rest);
    }
}

/// Appends one record (see the module docs).
fn record(trace: &Trace, kind: &str, payload: &[u8]) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut buf = format!("itest-trace {kind} {nanos} {}\n", payload.len()).into_bytes();
    buf.extend_from_slice(payload);
    buf.push(b'\n');
    let mut file = trace.lock().unwrap_or_else(|p| p.into_inner());
    // A trace that cannot be written must not stop the plugin's traffic.
    let _ = file.write_all(&buf);
}

/// Cuts a byte stream into JSON values (objects or arrays) by counting
/// brackets outside strings; whitespace between values is dropped, other
/// bytes outside values are kept up to the end of their line.
#[derive(Default)]
struct Framer {
    current: Vec<u8>,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Collecting bytes outside any value.
    stray: bool,
}

impl Framer {
    fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        for &b in bytes {
            if self.stray {
                if b == b'\n' {
                    done.push(std::mem::take(&mut self.current));
                    self.stray = false;
                } else {
                    self.current.push(b);
                }
                continue;
            }
            if self.depth == 0 {
                match b {
                    b' ' | b'\n' | b'\r' | b'\t' => {}
                    b'{' | b'[' => {
                        self.current.push(b);
                        self.depth = 1;
                    }
                    _ => {
                        self.current.push(b);
                        self.stray = true;
                    }
                }
                continue;
            }
            self.current.push(b);
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        done.push(std::mem::take(&mut self.current));
                    }
                }
                _ => {}
            }
        }
        done
    }

    /// What was left incomplete at EOF.
    fn rest(&mut self) -> Option<Vec<u8>> {
        (!self.current.is_empty()).then(|| std::mem::take(&mut self.current))
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn exit_code(status: &ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The plugin is killed when the relay dies (lightningd SIGKILLs the
/// process it started, which is the relay).
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    extern "C" {
        fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    }
    const PR_SET_PDEATHSIG: i32 = 1;
    const SIGKILL: u64 = 9;
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_values_split_and_joined_across_chunks() {
        let mut f = Framer::default();
        assert!(f.push(br#"{"a":"}\"{","#).is_empty());
        let out = f.push(b"\"b\":[1,{}]}\n\n{\"c\":1}{\"d\":2");
        assert_eq!(out, [br#"{"a":"}\"{","b":[1,{}]}"#.to_vec(), br#"{"c":1}"#.to_vec()]);
        assert_eq!(f.push(b"}oops\n"), [br#"{"d":2}"#.to_vec(), b"oops".to_vec()]);
        assert!(f.rest().is_none());
    }
}
