//! Runs `scripts/start_ln.sh` for real, the way a developer uses it:
//! `source` it in `bash` under `set -eu`, start bitcoind and two nodes, open a
//! channel, build and (re)load myplugin, call it, then `stop_ln` and
//! `destroy_ln`. Asserts the exit status, the channel state, the plugin's
//! answer, that every daemon the script started is gone and that its
//! directories were removed. On failure or timeout, whatever the script
//! recorded as started is killed (whole process groups) and its logs are
//! printed.
//!
//! The script is run on its own terms (no harness code drives it). The
//! harness is used for one thing: the lightningd options and environment
//! the script gives a node must equal the harness's
//! (`itest/src/lightningd/options.rs` is the one source of truth), so the
//! two cannot drift apart again.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Generous: a v23.02 release build polls bitcoind every 30 s, and the
/// nested `cargo build -p plugin` may have to compile dependencies.
const DEADLINE: Duration = Duration::from_secs(900);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("itest lives in the workspace")
        .to_path_buf()
}

/// A fresh, short directory (the RPC socket path must stay under ~100 bytes).
fn fresh_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = if Path::new("/tmp").is_dir() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("startln-{}-{nanos}", std::process::id()))
}

/// Is `pid` alive and still ours (its command line mentions `dir`)?
fn ours_alive(pid: u32, dir: &Path) -> bool {
    let out = Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            String::from_utf8_lossy(&o.stdout).contains(&*dir.to_string_lossy())
        }
        _ => false,
    }
}

/// The pids start_ln recorded (each leads its own process group).
fn recorded_pids(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join(".start_ln/pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// Kills what the script left running and prints its logs, unless disarmed.
struct Cleanup {
    dir: PathBuf,
    /// Pids seen while the script ran (the state file may be gone later).
    pids: Vec<u32>,
    armed: bool,
}

impl Cleanup {
    fn kill_leftovers(&mut self) -> Vec<u32> {
        let mut pids = recorded_pids(&self.dir);
        pids.extend(self.pids.iter().copied());
        pids.sort_unstable();
        pids.dedup();
        let mut killed = Vec::new();
        for pid in pids {
            if ours_alive(pid, &self.dir) {
                // Negative pid: the whole group (lightningd and its plugins).
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                killed.push(pid);
            }
        }
        killed
    }

    fn dump_logs(&self) {
        for rel in [
            "bitcoin/stdout.log",
            "bitcoin/regtest/debug.log",
            "l1/stdout.log",
            "l1/log",
            "l2/stdout.log",
            "l2/log",
        ] {
            let path = self.dir.join(rel);
            if let Ok(text) = fs::read_to_string(&path) {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(40);
                eprintln!("----- last lines of {} -----", path.display());
                for l in &lines[from..] {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.dump_logs();
        let killed = self.kill_leftovers();
        if !killed.is_empty() {
            eprintln!("start_ln_script: killed leftover daemons {killed:?}");
        }
        eprintln!(
            "start_ln_script: kept {} for inspection",
            self.dir.display()
        );
    }
}

/// Points the script at the binaries the harness would use (LIGHTNINGD,
/// BITCOIND env vars), by their directories.
fn bin_dir_env(cmd: &mut Command) {
    for (var, script_var, sibling) in [
        ("LIGHTNINGD", "LIGHTNING_BIN", "lightning-cli"),
        ("BITCOIND", "BITCOIN_BIN", "bitcoin-cli"),
    ] {
        if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(path);
            if let Some(parent) = path.parent().filter(|p| p.join(sibling).exists()) {
                cmd.env(script_var, parent);
            }
        }
    }
}

const SCRIPT: &str = r#"
set -eu
source scripts/start_ln.sh
start_ln 2
echo "PIDS=$(awk '{ print $2 }' "$LIGHTNING_DIR/.start_ln/pids" | tr '\n' ' ')"
echo "CONFIG=$(tr '\n' '|' < "$LIGHTNING_DIR/l1/config")"
L1PID=$(awk '$1 == "l1" { print $2 }' "$LIGHTNING_DIR/.start_ln/pids")
echo "LNENV=$(tr '\0' '\n' < "/proc/$L1PID/environ" | grep -E '^(LD_PRELOAD|FAKETIME[A-Z_]*)=' | sort | tr '\n' '|')"
connect 1 2 >/dev/null
fund_nodes
echo "STATE12=$(l1-cli -F listpeerchannels | sed -n 's/^channels\[0\]\.state=//p')"
echo "STATE21=$(l2-cli -F listpeerchannels | sed -n 's/^channels\[0\]\.state=//p')"
reload_plugin foo_opt=BAR
echo "PLUGIN=$(l1-cli myplugin | tr -d ' \n')"
reload_plugin foo_opt=BAZ
echo "PLUGIN2=$(l1-cli myplugin | tr -d ' \n')"
stop_ln
destroy_ln
echo "DONE"
"#;

cln_itest::needs_native_daemons! {
#[test]
fn start_ln_script_runs_a_network_opens_a_channel_and_reloads_the_plugin() {
    let root = repo_root();
    let dir = fresh_dir();
    let mut cleanup = Cleanup {
        dir: dir.clone(),
        pids: Vec::new(),
        armed: true,
    };

    let mut cmd = Command::new("bash");
    cmd.args(["-c", SCRIPT])
        .current_dir(&root)
        .env("LIGHTNING_DIR", &dir)
        .env("BITCOIN_DIR", dir.join("bitcoin"))
        .env_remove("LIGHTNING_BIN")
        .env_remove("BITCOIN_BIN")
        .env_remove("START_LN_PORT_BASE")
        .env_remove("PLUGIN_NODE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    bin_dir_env(&mut cmd);
    let mut child = cmd.spawn().expect("spawning bash");

    // Drain both pipes in threads so the script never blocks on them.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });

    let start = Instant::now();
    let status = loop {
        // Remember the daemons while the state file exists.
        for pid in recorded_pids(&dir) {
            if !cleanup.pids.contains(&pid) {
                cleanup.pids.push(pid);
            }
        }
        if let Some(status) = child.try_wait().expect("waiting for bash") {
            break Some(status);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    let report = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");

    let status = status.unwrap_or_else(|| panic!("script timed out after {DEADLINE:?}\n{report}"));
    assert!(status.success(), "script failed: {status}\n{report}");

    let field = |key: &str| -> String {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {key}= line in the output\n{report}"))
    };
    let pids: Vec<u32> = field("PIDS")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(pids.len(), 3, "bitcoind + 2 lightningd recorded\n{report}");
    assert_eq!(field("STATE12"), "CHANNELD_NORMAL", "{report}");
    assert_eq!(field("STATE21"), "CHANNELD_NORMAL", "{report}");
    let plugin = field("PLUGIN");
    assert!(
        plugin.contains(r#""option":{"foo_opt":"BAR"}"#) && plugin.contains(r#""node_id":"#),
        "myplugin answer: {plugin}\n{report}"
    );
    assert!(
        field("PLUGIN2").contains(r#""foo_opt":"BAZ""#),
        "reloaded myplugin answer\n{report}"
    );
    assert!(stdout.lines().any(|l| l == "DONE"), "{report}");
    assert_same_lightningd_setup_as_the_harness(&field("CONFIG"), &field("LNENV"));

    // Nothing of ours survives stop_ln, and destroy_ln removed the dirs.
    let alive: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|&p| ours_alive(p, &dir))
        .collect();
    assert!(
        alive.is_empty(),
        "daemons left running: {alive:?}\n{report}"
    );
    assert!(!dir.exists(), "{} still exists\n{report}", dir.display());

    cleanup.armed = false;
}
}

/// Config keys that name one node's own files, ports, log level or
/// bitcoind: they differ between the script and the harness by design.
const PER_INSTANCE: &[&str] = &[
    "log-level",
    "log-file",
    "addr",
    "grpc-port",
    "bitcoin-cli",
    "bitcoin-datadir",
    "bitcoin-rpcconnect",
    "bitcoin-rpcport",
    "bitcoin-rpcuser",
    "bitcoin-rpcpassword",
];

/// The script's node options (its config file, `|`-separated) and clock
/// environment must equal what the harness gives a node of the same
/// lightningd.
fn assert_same_lightningd_setup_as_the_harness(config: &str, env: &str) {
    // The script runs this machine's binaries: so does the harness node it
    // is compared with, whatever the backends say.
    let mut conf = cln_itest::Conf::with_nodes(1);
    conf.bitcoind_backend = cln_itest::Backend::Native;
    conf.lightningd_backend = cln_itest::Backend::Native;
    let lightningd = conf
        .lightningd
        .clone()
        .unwrap_or_else(|| PathBuf::from("lightningd"));
    let mut script: Vec<String> = config
        .split('|')
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !PER_INSTANCE.contains(&l.split('=').next().unwrap_or("")))
        .map(|l| format!("--{l}"))
        .collect();
    let mut harness = cln_itest::regtest_options(&lightningd).expect("the harness's options");
    script.sort();
    harness.sort();
    assert_eq!(
        script, harness,
        "scripts/start_ln.sh and itest give lightningd different options"
    );

    let net = cln_itest::Network::with_conf(&conf).expect("starting a harness node");
    let pid = net.node(0).pid().expect("a local lightningd");
    let environ = fs::read(format!("/proc/{pid}/environ")).expect("reading its environment");
    let mut harness_env: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| v.starts_with("LD_PRELOAD=") || v.starts_with("FAKETIME"))
        .collect();
    harness_env.sort();
    let script_env: Vec<&str> = env.split('|').filter(|v| !v.is_empty()).collect();
    assert_eq!(
        script_env, harness_env,
        "scripts/start_ln.sh and itest give lightningd a different environment"
    );
}
