//! The stand-in against the real bitcoin-cli: the same command lines
//! (those bcli builds in each CLN release), the same regtest bitcoind,
//! and the same stdout, stderr and exit code, byte for byte. Each case
//! also checks the real output is the one intended, so two identical
//! failures of the setup cannot pass as a match.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::bitcoin_cli_shim;
use crate::chain_proxy::{ChainProxy, HttpFailure, MockReply};
use crate::{Conf, Network};

/// What one run printed and returned.
#[derive(Debug, PartialEq)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(program: &Path, args: &[String], stdin: &str) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    let mut input = child.stdin.take().unwrap();
    // bcli writes everything, then closes stdin.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The command line of one CLN release's bcli.
#[derive(Debug, Clone, Copy)]
enum Bcli {
    /// v23.02 ... v24.02: params as arguments, password on stdin without
    /// a newline.
    V23,
    /// v24.05 ... v25.09: the same plus `-rpcclienttimeout=60`.
    V24,
    /// v25.12 ... v26.06: `-stdin`, password and params one per line.
    V25,
}

struct Bench {
    net: Network,
    real: std::path::PathBuf,
    shim: std::path::PathBuf,
}

impl Bench {
    fn new() -> Self {
        let net = Network::with_conf(&Conf::with_nodes(0)).expect("starting bitcoind");
        let real = crate::probe::lookup::BITCOIN_CLI
            .resolve(
                std::env::var_os(crate::probe::lookup::BITCOIN_CLI.env),
                std::env::var_os("PATH"),
            )
            .expect("the real bitcoin-cli, to compare the stand-in with");
        let shim = bitcoin_cli_shim().expect("the stand-in was built");
        Self { net, real, shim }
    }

    fn port(&self) -> u16 {
        self.net.bitcoind().rpc_port()
    }

    /// bcli's options before the method, for bitcoind (or a proxy) on `port`.
    fn options(&self, style: Bcli, port: u16) -> Vec<String> {
        let b = self.net.bitcoind();
        let mut args = vec![
            "-regtest".to_string(),
            format!("-datadir={}", b.datadir().display()),
        ];
        if !matches!(style, Bcli::V23) {
            args.push("-rpcclienttimeout=60".into());
        }
        args.extend([
            "-rpcconnect=127.0.0.1".to_string(),
            format!("-rpcport={port}"),
            format!("-rpcuser={}", b.rpc_user()),
            "-stdinrpcpass".into(),
        ]);
        args
    }

    /// bcli's full command line and stdin for `method params`.
    fn bcli(&self, style: Bcli, port: u16, method: &str, params: &[&str]) -> (Vec<String>, String) {
        let mut args = self.options(style, port);
        let mut stdin = self.net.bitcoind().rpc_password().to_string();
        match style {
            Bcli::V25 => {
                args.extend(["-stdin".to_string(), method.to_string()]);
                stdin.push('\n');
                for p in params {
                    stdin.push_str(p);
                    stdin.push('\n');
                }
            }
            _ => {
                args.push(method.into());
                args.extend(params.iter().map(|p| p.to_string()));
            }
        }
        (args, stdin)
    }

    /// Runs both; asserts they agree; returns the real one's run.
    fn same(&self, args: &[String], stdin: &str) -> Run {
        let real = run(&self.real, args, stdin);
        let shim = run(&self.shim, args, stdin);
        assert_eq!(
            shim, real,
            "the stand-in differs from bitcoin-cli for {args:?} (stdin {stdin:?})"
        );
        real
    }

    fn same_bcli(&self, style: Bcli, method: &str, params: &[&str]) -> Run {
        let (args, stdin) = self.bcli(style, self.port(), method, params);
        self.same(&args, &stdin)
    }

    fn rpc(&self, method: &str, params: Value) -> Value {
        self.net.bitcoind().rpc(method, params).unwrap()
    }
}

const STYLES: [Bcli; 3] = [Bcli::V23, Bcli::V24, Bcli::V25];

needs_bitcoind! {
#[test]
fn startup_checks_match_bitcoin_cli() {
    let bench = Bench::new();
    for style in STYLES {
        let run = bench.same_bcli(style, "getnetworkinfo", &[]);
        assert!(run.stdout.contains("\"localrelay\": true"), "{run:?}");
    }
    // v25.12+: `-rpcwait -rpcwaittimeout=30 getnetworkinfo`, the password
    // with (v26.06) or without (v25.12) a newline.
    let mut args = bench.options(Bcli::V25, bench.port());
    args.extend(["-rpcwait", "-rpcwaittimeout=30", "getnetworkinfo"].map(String::from));
    let password = bench.net.bitcoind().rpc_password();
    for stdin in [password.to_string(), format!("{password}\n")] {
        assert_eq!(bench.same(&args, &stdin).code, 0);
    }
}
}

needs_bitcoind! {
#[test]
fn chain_queries_match_bitcoin_cli() {
    let bench = Bench::new();
    let hash1 = bench.rpc("getblockhash", json!([1]));
    let hash1 = hash1.as_str().unwrap();
    let coinbase = bench.rpc("getblock", json!([hash1]))["tx"][0].clone();
    let coinbase = coinbase.as_str().unwrap();
    for style in STYLES {
        // A string result, printed raw.
        let run = bench.same_bcli(style, "getblockhash", &["1"]);
        assert_eq!(run.stdout, format!("{hash1}\n"));
        // Not found: bcli checks for exit code 8.
        let run = bench.same_bcli(style, "getblockhash", &["1000"]);
        assert_eq!(run.code, 8, "{run:?}");
        let run = bench.same_bcli(style, "getblock", &[hash1, "0"]);
        assert!(run.code == 0 && run.stdout.len() > 100, "{run:?}");
        // JSON results, indented as bitcoin-cli does.
        let run = bench.same_bcli(style, "gettxout", &[coinbase, "0"]);
        assert!(run.stdout.contains("\"value\": 50.00000000"), "{run:?}");
        // A null result prints nothing (bcli: "spent").
        let run = bench.same_bcli(style, "gettxout", &[coinbase, "1"]);
        assert_eq!((run.code, run.stdout.as_str()), (0, ""));
        let run = bench.same_bcli(style, "getmempoolinfo", &[]);
        assert!(run.stdout.contains("\"minrelaytxfee\": 0.00001000"), "{run:?}");
        for (target, mode) in [("2", "CONSERVATIVE"), ("6", "ECONOMICAL"), ("12", "ECONOMICAL"), ("100", "ECONOMICAL")] {
            let run = bench.same_bcli(style, "estimatesmartfee", &[target, mode]);
            assert!(run.stdout.contains("Insufficient data"), "{run:?}");
        }
        // Only used for pruned nodes; here no peer: an empty array and an error.
        assert_eq!(bench.same_bcli(style, "getpeerinfo", &[]).stdout, "[\n]\n");
        let run = bench.same_bcli(style, "getblockfrompeer", &[hash1, "0"]);
        assert_ne!(run.code, 0, "{run:?}");
    }
}
}

needs_bitcoind! {
#[test]
fn getblockchaininfo_matches_bitcoin_cli() {
    let bench = Bench::new();
    for style in STYLES {
        let (args, stdin) = bench.bcli(style, bench.port(), "getblockchaininfo", &[]);
        let real = run(&bench.real, &args, &stdin);
        let shim = run(&bench.shim, &args, &stdin);
        // `verificationprogress` depends on the clock; the rest must match.
        let steady = |r: &Run| -> Vec<String> {
            r.stdout.lines().filter(|l| !l.contains("\"verificationprogress\"")).map(String::from).collect()
        };
        assert_eq!((shim.code, &shim.stderr), (real.code, &real.stderr));
        assert_eq!(steady(&shim), steady(&real));
        assert!(real.stdout.contains("\"blocks\": 101,"), "{real:?}");
    }
}
}

needs_bitcoind! {
#[test]
fn sendrawtransaction_results_match_bitcoin_cli() {
    let bench = Bench::new();
    let address = bench.net.bitcoind().new_address().unwrap();
    let raw = bench.rpc("createrawtransaction", json!([[], [{ address: 0.001 }]]));
    let funded = bench.rpc("fundrawtransaction", json!([raw]));
    let signed = bench.rpc("signrawtransactionwithwallet", json!([funded["hex"]]));
    let hex = signed["hex"].as_str().unwrap();
    // Sent by the first, already in the mempool for the second: both
    // print the txid.
    let (args, stdin) = bench.bcli(Bcli::V25, bench.port(), "sendrawtransaction", &[hex]);
    let sent = bench.same(&args, &stdin);
    assert_eq!(sent.code, 0, "{sent:?}");
    assert_eq!(sent.stdout.trim().len(), 64, "{sent:?}");
    bench.net.bitcoind().mine(1).unwrap();
    for style in STYLES {
        // Mined: bcli counts exit code 27 as success.
        let run = bench.same_bcli(style, "sendrawtransaction", &[hex, "0"]);
        assert_eq!(run.code, 27, "{run:?}");
        let run = bench.same_bcli(style, "sendrawtransaction", &["00"]);
        assert_eq!(run.code, 22, "{run:?}");
    }
}
}

needs_bitcoind! {
#[test]
fn rpc_errors_and_warm_up_match_bitcoin_cli() {
    let bench = Bench::new();
    let proxy = ChainProxy::start(format!("127.0.0.1:{}", bench.port())).unwrap();
    proxy.mock("getnetworkinfo", |_| MockReply::error(-28, "Loading block index…"));
    proxy.mock("getblockcount", |_| MockReply::error(-19, "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path)."));
    proxy.mock("getbestblockhash", |_| MockReply::error(-32601, "Method not found"));
    for style in STYLES {
        // Warming up: bcli before v25.12 retries on exit code 28.
        let (args, stdin) = bench.bcli(style, proxy.port(), "getnetworkinfo", &[]);
        let run = bench.same(&args, &stdin);
        assert_eq!((run.code, run.stderr.as_str()), (28, "error code: -28\nerror message:\nLoading block index…\n"));
        let (args, stdin) = bench.bcli(style, proxy.port(), "getblockcount", &[]);
        let run = bench.same(&args, &stdin);
        assert!(run.code == 19 && run.stderr.contains("-rpcwallet=<walletname>"), "{run:?}");
        let (args, stdin) = bench.bcli(style, proxy.port(), "getbestblockhash", &[]);
        assert_eq!(bench.same(&args, &stdin).code, 89, "32601 mod 256");
    }
    // v25.12+ waits out warm-up, then gives up with exit code 1.
    let mut args = bench.options(Bcli::V25, proxy.port());
    args.extend(["-rpcwait", "-rpcwaittimeout=1", "getnetworkinfo"].map(String::from));
    let run = bench.same(&args, bench.net.bitcoind().rpc_password());
    assert_eq!((run.code, run.stderr.as_str()), (1, "error: timeout on transient error: server in warmup\n"));
}
}

needs_bitcoind! {
#[test]
fn transport_failures_match_bitcoin_cli() {
    let bench = Bench::new();
    let proxy = ChainProxy::start(format!("127.0.0.1:{}", bench.port())).unwrap();
    proxy.mock("getblockhash", |call| match call.param(0).and_then(Value::as_u64) {
        Some(1) => MockReply::close_connection(),
        Some(2) => MockReply::http_500(),
        Some(3) => MockReply::Fail(HttpFailure::Status(502)),
        Some(4) => MockReply::Fail(HttpFailure::Status(503)),
        _ => MockReply::delay(Duration::from_secs(3), MockReply::Forward),
    });
    let expect = [
        (1, "error code 1 - \"EOF reached\""),
        (2, "error: no response from server\n"),
        (3, "error: server returned HTTP error 502\n"),
        (4, "error: Server response: \n"),
    ];
    for style in STYLES {
        for (height, stderr) in expect {
            let (args, stdin) = bench.bcli(style, proxy.port(), "getblockhash", &[&height.to_string()]);
            let run = bench.same(&args, &stdin);
            assert!(run.code == 1 && run.stderr.contains(stderr), "{height}: {run:?}");
        }
    }
    // Slower than -rpcclienttimeout.
    let (mut args, stdin) = bench.bcli(Bcli::V25, proxy.port(), "getblockhash", &["5"]);
    args.retain(|a| !a.starts_with("-rpcclienttimeout"));
    args.insert(1, "-rpcclienttimeout=1".into());
    let run = bench.same(&args, &stdin);
    assert!(run.code == 1 && run.stderr.contains("timeout reached"), "{run:?}");

    // Nothing listening: refused, with and without -rpcwait.
    let closed_port = crate::ports::reserve().unwrap();
    let (args, stdin) = bench.bcli(Bcli::V25, closed_port.port(), "getblockcount", &[]);
    let run = bench.same(&args, &stdin);
    assert!(run.code == 1 && run.stderr.starts_with("error: timeout on transient error: Could not connect to the server 127.0.0.1:"), "{run:?}");
    let mut args = bench.options(Bcli::V25, closed_port.port());
    args.extend(["-rpcwait", "-rpcwaittimeout=1", "getnetworkinfo"].map(String::from));
    assert_eq!(bench.same(&args, bench.net.bitcoind().rpc_password()).code, 1);

    // A wrong password.
    let (args, _) = bench.bcli(Bcli::V25, bench.port(), "getblockcount", &[]);
    let run = bench.same(&args, "wrong\n");
    assert_eq!((run.code, run.stderr.as_str()), (1, "error: Authorization failed: Incorrect rpcuser or rpcpassword\n"));
}
}

needs_bitcoind! {
#[test]
fn client_side_checks_and_conversions_match_bitcoin_cli() {
    let bench = Bench::new();
    let password = bench.net.bitcoind().rpc_password().to_string();
    let (args, stdin) = bench.bcli(Bcli::V25, bench.port(), "getblockhash", &["abc"]);
    assert_eq!(bench.same(&args, &stdin).stderr, "error: Error parsing JSON: abc\n");
    // No password on stdin, no method, an unknown option, a missing datadir.
    let (args, _) = bench.bcli(Bcli::V25, bench.port(), "getblockcount", &[]);
    assert_eq!(bench.same(&args, "").code, 1);
    let (args, stdin) = bench.bcli(Bcli::V25, bench.port(), "getblockcount", &[]);
    let no_method: Vec<String> = args[..args.len() - 1].to_vec();
    assert!(bench.same(&no_method, &stdin).stderr.contains("too few parameters"));
    let mut unknown = args.clone();
    unknown.insert(1, "-frobnicate=3".into());
    assert!(bench.same(&unknown, &stdin).stderr.contains("Invalid parameter -frobnicate=3"));
    let mut missing = args.clone();
    missing[1] = "-datadir=/nonexistent/itest".into();
    assert!(bench.same(&missing, &stdin).stderr.contains("does not exist"));
    // String escapes, kept number text, nesting and empty containers.
    let (args, _) = bench.bcli(Bcli::V25, bench.port(), "echo", &[]);
    let strange = format!("{password}\na\"b\\c\u{1}\u{7f}é/\t\u{1b}\n1\ntrue\n");
    assert!(bench.same(&args, &strange).stdout.contains("\\u001b"));
    let (args, _) = bench.bcli(Bcli::V25, bench.port(), "echojson", &[]);
    let json_args = format!("{password}\n[1,{{\"a\":[]}},{{}}]\n1.50\n-0\n1e3\nnull\n\"s\\u00e9\\ud83d\\ude00\"\n");
    let run = bench.same(&args, &json_args);
    assert!(run.stdout.contains("  1.50,\n") && run.stdout.contains("\"a\": [\n      ]"), "{run:?}");
    assert!(bench.same(&args, &format!("{password}\n007\n")).stderr.contains("Error parsing JSON: 007"));
}
}

needs_bitcoind! {
#[test]
fn a_method_outside_the_table_sends_strings_and_fails_loudly_on_a_wrong_type() {
    // bitcoin-cli converts getblockheader's `verbose`; the stand-in does
    // not know getblockheader, sends "false" as a string, and bitcoind
    // rejects it instead of silently doing something else.
    let bench = Bench::new();
    let hash = bench.rpc("getblockhash", json!([1]));
    let (args, stdin) = bench.bcli(Bcli::V25, bench.port(), "getblockheader", &[hash.as_str().unwrap(), "false"]);
    let run = run(&bench.shim, &args, &stdin);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("not of expected type bool"), "{run:?}");
}
}

#[test]
fn the_stand_in_is_built_next_to_the_library() {
    let path = bitcoin_cli_shim().unwrap();
    assert!(path.is_file(), "{}", path.display());
    assert!(path.ends_with("bitcoin-cli"), "{}", path.display());
}

needs_native_daemons! {
#[test]
fn lightningd_runs_on_the_stand_in_through_the_proxy_with_fixed_feerates() {
    // Both pieces as a node will use them. Until Node wires them in, the
    // later `--bitcoin-rpcport` / `--bitcoin-cli` override the defaults
    // (for a lightningd of this machine: the proxy listens here).
    let mut conf = Conf::with_nodes(0);
    conf.bitcoind_backend = crate::Backend::Native;
    conf.lightningd_backend = crate::Backend::Native;
    let net = Network::with_conf(&conf).expect("starting bitcoind");
    let proxy = ChainProxy::start(format!("127.0.0.1:{}", net.bitcoind().rpc_port())).unwrap();
    let shim = bitcoin_cli_shim().unwrap();
    let node = net
        .add_node(
            crate::NodeConf::default()
                .with_option(format!("--bitcoin-rpcport={}", proxy.port()))
                .with_option(format!("--bitcoin-cli={}", shim.display())),
        )
        .expect("lightningd starts on the stand-in");
    // Two fee polls: lightningd has read (and smoothed) the fixed rates.
    proxy.wait_for_calls("estimatesmartfee", 8, Duration::from_secs(60)).unwrap();
    let perkw = node.call("feerates", json!({"style": "perkw"})).unwrap()["perkw"].clone();
    assert_eq!(
        (&perkw["opening"], &perkw["mutual_close"], &perkw["unilateral_close"]),
        (&json!(7500), &json!(3750), &json!(11000)),
        "{perkw}"
    );
    for method in ["getnetworkinfo", "getblockchaininfo", "getblockhash", "getblock"] {
        assert!(proxy.count(method) > 0, "{method}: {:?}", proxy.counts());
    }
}
}
