//! A stand-in for `bitcoin-cli`, for hosts that have none.
//!
//! lightningd's bcli plugin talks to bitcoind only by running
//! `bitcoin-cli`. With bitcoind in a container and lightningd on the host,
//! the host may have no bitcoin-cli; this program takes its place. It
//! implements exactly what bcli (CLN v23.02.2 ... v26.06.x) relies on, with
//! bitcoin-cli's (Core/Knots 29) bytes on stdout and stderr and its exit
//! codes:
//! - options `-regtest`/`-testnet`/`-testnet4`/`-signet`/`-chain=`,
//!   `-datadir`, `-conf`, `-rpcconnect`, `-rpcport`, `-rpcuser`,
//!   `-rpcpassword`, `-rpccookiefile`, `-stdinrpcpass`, `-stdin`,
//!   `-rpcclienttimeout`, `-rpcwait`, `-rpcwaittimeout`, `-rpcwallet`;
//!   the `rpc*` settings also from `bitcoin.conf` (plain `key=value`
//!   lines and `[chain]` sections), and the cookie file without a password;
//! - positional params as JSON strings, except those bitcoin-cli converts
//!   to JSON for the methods bcli calls (see `CONVERT`);
//! - a string result printed raw, `null` printed as nothing, anything else
//!   as bitcoin-cli's indented JSON with bitcoind's number text kept;
//! - an RPC error as `error code: ...` / `error message:` on stderr with
//!   exit code `|code|`; transport failures as bitcoin-cli's `error: ...`
//!   with exit code 1 (bcli tells warm-up, 28, from connection trouble, 1).
//!
//! Anything else bitcoin-cli offers (`-named`, `-getinfo`, `-netinfo`,
//! ...) is refused with an error rather than half done. Only the standard
//! library is used, so the build script can compile it with `rustc` alone.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Params bitcoin-cli sends as JSON rather than strings, by method and
/// position (from Core's `vRPCConvertParams`, for the methods bcli calls,
/// plus `echojson`, whose params all are). Any other param is a string,
/// as in bitcoin-cli for a method it has no entry for: bitcoind checks
/// types, so a wrong guess fails loudly instead of changing a value.
const CONVERT: &[(&str, &[usize])] = &[
    ("getblockhash", &[0]),
    ("getblock", &[1]),
    ("estimatesmartfee", &[0]),
    ("sendrawtransaction", &[1, 2]),
    ("gettxout", &[1, 2]),
    ("getblockfrompeer", &[1]),
    ("echojson", &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
];

/// bitcoin-cli's `-rpcclienttimeout` default, in seconds.
const DEFAULT_CLIENT_TIMEOUT: i64 = 900;
const RPC_IN_WARMUP: i64 = -28;
const RPC_WALLET_NOT_SPECIFIED: i64 = -19;

/// Options taking a value, and boolean ones.
const VALUE_OPTIONS: &[&str] = &[
    "chain",
    "datadir",
    "conf",
    "rpcconnect",
    "rpcport",
    "rpcuser",
    "rpcpassword",
    "rpccookiefile",
    "rpcclienttimeout",
    "rpcwaittimeout",
    "rpcwallet",
];
const BOOL_OPTIONS: &[&str] = &[
    "regtest",
    "testnet",
    "testnet4",
    "signet",
    "stdin",
    "stdinrpcpass",
    "rpcwait",
];
/// bitcoin-cli options this stand-in does not implement.
const UNSUPPORTED: &[&str] = &[
    "named",
    "getinfo",
    "netinfo",
    "addrinfo",
    "generate",
    "stdinwalletpassphrase",
    "color",
    "includeconf",
    "settings",
    "rpcwaittimeout-ms",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&args) {
        Ok(code) => code,
        Err(Exit { code, stderr }) => {
            eprint!("{stderr}");
            code
        }
    };
    ExitCode::from(code as u8)
}

/// An early exit: what to print on stderr, and the exit code.
struct Exit {
    code: i32,
    stderr: String,
}

fn exit(code: i32, stderr: impl Into<String>) -> Exit {
    Exit {
        code,
        stderr: stderr.into(),
    }
}

fn run(argv: &[String]) -> Result<i32, Exit> {
    let (opts, rest) = parse_options(argv)?;
    if opts.contains_key("version") || opts.contains_key("help") {
        println!("bitcoin-cli stand-in (itest), for lightningd's bcli plugin; see its source for what it implements");
        return Ok(0);
    }
    let settings = Settings::load(opts)?;
    let (print, code) = match command_line_rpc(&settings, rest) {
        Ok(Printed::Result(text)) => (text, 0),
        Ok(Printed::RpcError(text, code)) => (text, code),
        Err(Failure(message)) => (format!("error: {message}"), 1),
    };
    if !print.is_empty() {
        if code == 0 {
            println!("{print}");
        } else {
            eprintln!("{print}");
        }
    }
    Ok(code)
}

/// Leading `-name[=value]` switches (bitcoin-cli stops at the first
/// argument that is not one), then the method and its params.
fn parse_options(argv: &[String]) -> Result<(HashMap<String, String>, &[String]), Exit> {
    let mut opts = HashMap::new();
    let mut i = 0;
    while i < argv.len() && argv[i].starts_with('-') {
        let arg = &argv[i];
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        let (mut key, mut value) = match body.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if let Some(base) = key.strip_prefix("no") {
            if BOOL_OPTIONS.contains(&base) || UNSUPPORTED.contains(&base) {
                // `-nofoo` is `-foo=0` (and `-nofoo=0` is `-foo=1`).
                let negated = value.as_deref().is_some_and(|v| !interpret_bool(v));
                value = Some(if negated { "1" } else { "0" }.into());
                key = base.to_string();
            }
        }
        if ["?", "h", "help", "version"].contains(&key.as_str()) {
            opts.insert(
                if key == "version" { "version" } else { "help" }.to_string(),
                String::new(),
            );
        } else if UNSUPPORTED.contains(&key.as_str()) {
            return Err(exit(
                1,
                format!("error: the bitcoin-cli stand-in (itest) does not implement -{key}\n"),
            ));
        } else if VALUE_OPTIONS.contains(&key.as_str()) || BOOL_OPTIONS.contains(&key.as_str()) {
            opts.insert(key, value.unwrap_or_default());
        } else {
            return Err(exit(
                1,
                format!("Error parsing command line arguments: Invalid parameter {arg}\n"),
            ));
        }
        i += 1;
    }
    Ok((opts, &argv[i..]))
}

/// bitcoin-cli's reading of a boolean: empty is true, else a number's
/// truth (`-rpcwait=0` is false, `-rpcwait=yes` is false too).
fn interpret_bool(value: &str) -> bool {
    value.is_empty() || parse_int(value) != 0
}

/// bitcoin-cli's lenient integer reading: the leading `[+-]digits`, else 0.
fn parse_int(value: &str) -> i64 {
    let v = value.trim_start();
    let (sign, digits) = match v.as_bytes().first() {
        Some(b'-') => (-1, &v[1..]),
        Some(b'+') => (1, &v[1..]),
        _ => (1, v),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |n| sign * n)
}

/// The chains bitcoin-cli knows: name, `-datadir` subdirectory, RPC port,
/// `bitcoin.conf` section.
const CHAINS: &[(&str, &str, u16, &str)] = &[
    ("main", "", 8332, "main"),
    ("test", "testnet3", 18332, "test"),
    ("testnet4", "testnet4", 48332, "testnet4"),
    ("signet", "signet", 38332, "signet"),
    ("regtest", "regtest", 18443, "regtest"),
];

/// Options merged with `bitcoin.conf`, command line first.
struct Settings {
    cli: HashMap<String, String>,
    conf: HashMap<String, String>,
    datadir: PathBuf,
    conf_path: PathBuf,
    chain: &'static (&'static str, &'static str, u16, &'static str),
}

impl Settings {
    fn load(cli: HashMap<String, String>) -> Result<Self, Exit> {
        let datadir = match cli.get("datadir") {
            Some(d) => {
                if !Path::new(d).is_dir() {
                    return Err(exit(
                        1,
                        format!("Error: Specified data directory \"{d}\" does not exist.\n"),
                    ));
                }
                PathBuf::from(d)
            }
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".bitcoin"),
        };
        let conf_path = match cli.get("conf") {
            Some(c) if Path::new(c).is_absolute() => PathBuf::from(c),
            Some(c) => datadir.join(c),
            None => datadir.join("bitcoin.conf"),
        };
        let text = match std::fs::read_to_string(&conf_path) {
            Ok(text) => text,
            Err(_) if !cli.contains_key("conf") => String::new(),
            Err(e) => {
                return Err(exit(
                    1,
                    format!(
                        "Error reading configuration file: specified config file \"{}\" could not be opened: {e}\n",
                        conf_path.display()
                    ),
                ))
            }
        };
        let file = parse_conf(&text);
        let chain = select_chain(&cli, &file)?;
        let conf = file
            .into_iter()
            .filter_map(|(section, key, value)| match section {
                None => Some((key, value)),
                Some(s) if s == chain.3 => Some((format!("[{s}]{key}"), value)),
                Some(_) => None,
            })
            .collect();
        Ok(Self {
            cli,
            conf,
            datadir,
            conf_path,
            chain,
        })
    }

    /// An option's value: command line, then the chain's section, then the
    /// top of `bitcoin.conf` (except `rpcport`, which bitcoind reads there
    /// only for mainnet).
    fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.cli.get(key) {
            return Some(v);
        }
        if let Some(v) = self.conf.get(&format!("[{}]{key}", self.chain.3)) {
            return Some(v);
        }
        if key == "rpcport" && self.chain.0 != "main" {
            return None;
        }
        self.conf.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(interpret_bool)
    }

    fn net_dir(&self) -> PathBuf {
        match self.chain.1 {
            "" => self.datadir.clone(),
            sub => self.datadir.join(sub),
        }
    }
}

/// `bitcoin.conf` lines as (section, key, value); later lines win.
fn parse_conf(text: &str) -> Vec<(Option<String>, String, String)> {
    let mut section = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim().to_string());
        } else if let Some((key, value)) = line.split_once('=') {
            let (key, value) = (key.trim(), value.trim().to_string());
            match key.split_once('.') {
                Some((s, k)) => out.push((Some(s.to_string()), k.to_string(), value)),
                None => out.push((section.clone(), key.to_string(), value)),
            }
        } else if !line.is_empty() {
            out.push((section.clone(), line.to_string(), String::new()));
        }
    }
    out
}

fn select_chain(
    cli: &HashMap<String, String>,
    file: &[(Option<String>, String, String)],
) -> Result<&'static (&'static str, &'static str, u16, &'static str), Exit> {
    let top = |key: &str| -> Option<String> {
        cli.get(key).cloned().or_else(|| {
            file.iter()
                .rev()
                .find(|(s, k, _)| s.is_none() && k == key)
                .map(|(_, _, v)| v.clone())
        })
    };
    let mut chosen: Vec<&str> = Vec::new();
    for (flag, name) in [
        ("regtest", "regtest"),
        ("testnet", "test"),
        ("testnet4", "testnet4"),
        ("signet", "signet"),
    ] {
        if top(flag).is_some_and(|v| interpret_bool(&v)) {
            chosen.push(name);
        }
    }
    let by_chain = top("chain");
    if let Some(c) = &by_chain {
        chosen.push(c);
    }
    if chosen.len() > 1 {
        return Err(exit(
            1,
            "Error reading configuration file: Invalid combination of -regtest, -signet, -testnet, -testnet4 and -chain. Can use at most one.\n",
        ));
    }
    let name = chosen.first().copied().unwrap_or("main");
    CHAINS
        .iter()
        .find(|c| c.0 == name)
        .ok_or_else(|| exit(1, format!("Error: Unknown chain {name}.\n")))
}

/// What a successful run prints on stdout, or an RPC error on stderr with
/// its exit code.
enum Printed {
    Result(String),
    RpcError(String, i32),
}

/// A failure printed as `error: <message>`, exit code 1.
struct Failure(String);

/// A failure `-rpcwait` waits out: no connection, or bitcoind warming up.
struct ConnectionFailed(String);

fn command_line_rpc(settings: &Settings, rest: &[String]) -> Result<Printed, Failure> {
    let mut args: Vec<String> = rest.to_vec();
    let mut stdin = std::io::stdin().lock();
    let mut password = settings.get("rpcpassword").unwrap_or("").to_string();
    if settings.flag("stdinrpcpass") {
        let tty = stdin.is_terminal();
        if tty {
            eprint!("RPC password> ");
        }
        password = read_line(&mut stdin).ok_or_else(|| {
            Failure("-stdinrpcpass specified but failed to read from standard input".into())
        })?;
        if tty {
            println!();
        }
    }
    if settings.flag("stdin") {
        while let Some(line) = read_line(&mut stdin) {
            args.push(line);
        }
    }
    if args.is_empty() {
        return Err(Failure("too few parameters (need at least command)".into()));
    }
    let method = args.remove(0);
    let params = convert_params(&method, &args)?;
    let body = format!(
        "{{\"method\":{},\"params\":[{}],\"id\":1,\"jsonrpc\":\"2.0\"}}\n",
        Json::Str(method.clone()).compact(),
        params.join(",")
    );
    let reply = call_with_wait(settings, &password, &body)?;
    let error = reply.find("error").cloned().unwrap_or(Json::Null);
    if matches!(error, Json::Null) {
        return Ok(Printed::Result(match reply.find("result") {
            None | Some(Json::Null) => String::new(),
            Some(Json::Str(s)) => s.clone(),
            Some(other) => other.pretty(),
        }));
    }
    let mut text = String::new();
    match &error {
        Json::Obj(_) => {
            let code = error.find("code");
            if let Some(code) = code.filter(|c| !matches!(c, Json::Null)) {
                text = format!("error code: {}\n", code.val_str());
            }
            if let Some(Json::Str(message)) = error.find("message") {
                text.push_str("error message:\n");
                text.push_str(message);
            }
            if code.and_then(Json::as_int) == Some(RPC_WALLET_NOT_SPECIFIED) {
                text.push_str(" Or for the CLI, specify the \"-rpcwallet=<walletname>\" option before the command (run \"bitcoin-cli -h\" for help or \"bitcoin-cli listwallets\" to see which wallets are currently loaded).");
            }
        }
        other => text = format!("error: {}", other.compact()),
    }
    let code = error.find("code").and_then(Json::as_int).ok_or_else(|| {
        Failure(format!(
            "JSON value of type {} is not of expected type number",
            error.find("code").unwrap_or(&Json::Null).type_name()
        ))
    })?;
    Ok(Printed::RpcError(text, code.unsigned_abs() as i32))
}

/// One line of stdin as `std::getline` gives it (without the newline);
/// `None` at end of input with nothing read.
fn read_line(stdin: &mut impl BufRead) -> Option<String> {
    let mut buf = Vec::new();
    match stdin.read_until(b'\n', &mut buf) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            Some(String::from_utf8_lossy(&buf).into_owned())
        }
    }
}

/// Params as JSON texts: strings, or parsed JSON where bitcoin-cli
/// converts (`Error parsing JSON: <arg>` when that fails).
fn convert_params(method: &str, args: &[String]) -> Result<Vec<String>, Failure> {
    let positions = CONVERT
        .iter()
        .find(|(m, _)| *m == method)
        .map_or(&[][..], |(_, p)| p);
    args.iter()
        .enumerate()
        .map(|(i, arg)| {
            if positions.contains(&i) {
                Json::parse(arg)
                    .map(|v| v.compact())
                    .ok_or_else(|| Failure(format!("Error parsing JSON: {arg}")))
            } else {
                Ok(Json::Str(arg.clone()).compact())
            }
        })
        .collect()
}

/// `-rpcwait`: retry connection failures and warm-up once a second until
/// `-rpcwaittimeout` (0: forever). Without it, one try.
fn call_with_wait(settings: &Settings, password: &str, body: &str) -> Result<Json, Failure> {
    let wait = settings.flag("rpcwait");
    let timeout = settings.get("rpcwaittimeout").map_or(0, parse_int);
    let deadline = Instant::now() + Duration::from_secs(timeout.max(0) as u64);
    loop {
        let attempt = call_rpc(settings, password, body).and_then(|reply| {
            let warming = wait
                && reply
                    .find("error")
                    .and_then(|e| e.find("code"))
                    .and_then(Json::as_int)
                    == Some(RPC_IN_WARMUP);
            if warming {
                Err(Retry::Connection(ConnectionFailed(
                    "server in warmup".into(),
                )))
            } else {
                Ok(reply)
            }
        });
        match attempt {
            Ok(reply) => return Ok(reply),
            Err(Retry::Fatal(f)) => return Err(f),
            Err(Retry::Connection(ConnectionFailed(why))) => {
                if wait && (timeout <= 0 || Instant::now() < deadline) {
                    std::thread::sleep(Duration::from_secs(1));
                } else {
                    return Err(Failure(format!("timeout on transient error: {why}")));
                }
            }
        }
    }
}

enum Retry {
    Connection(ConnectionFailed),
    Fatal(Failure),
}

fn fatal(message: impl Into<String>) -> Retry {
    Retry::Fatal(Failure(message.into()))
}

/// One HTTP exchange with bitcoind, judged as bitcoin-cli judges it.
fn call_rpc(settings: &Settings, password: &str, body: &str) -> Result<Json, Retry> {
    let (host, port) = endpoint(settings)?;
    let mut cookie_failed = false;
    let user_pass = if password.is_empty() {
        match read_cookie(settings) {
            Some(cookie) => cookie,
            None => {
                cookie_failed = true;
                String::new()
            }
        }
    } else {
        format!("{}:{password}", settings.get("rpcuser").unwrap_or(""))
    };
    let path = match settings.get("rpcwallet") {
        Some(wallet) => format!("/wallet/{}", url_encode(wallet)),
        None => "/".into(),
    };
    let seconds = settings
        .get("rpcclienttimeout")
        .map_or(DEFAULT_CLIENT_TIMEOUT, parse_int);
    // bitcoin-cli's "no timeout" is five years.
    let timeout = Duration::from_secs(if seconds > 0 {
        seconds as u64
    } else {
        5 * 31_556_952
    });
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Basic {}\r\nContent-Length: {}\r\n\r\n{body}",
        base64(user_pass.as_bytes()),
        body.len()
    );
    let not_connected = |code: Option<(u8, &str)>| {
        let detail = code.map_or(String::new(), |(n, what)| {
            format!(" (error code {n} - \"{what}\")")
        });
        Retry::Connection(ConnectionFailed(format!(
            "Could not connect to the server {host}:{port}{detail}\n\nMake sure the bitcoind server is running and that you are connecting to the correct RPC port.\nUse \"bitcoin-cli -help\" for more info."
        )))
    };
    let mut stream = connect(&host, port, timeout).ok_or_else(|| not_connected(None))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let (status, body) = match exchange(&mut stream, request.as_bytes()) {
        Ok(reply) => reply,
        Err(Transport::Timeout) => return Err(not_connected(Some((0, "timeout reached")))),
        Err(Transport::Eof) => return Err(not_connected(Some((1, "EOF reached")))),
        Err(Transport::Io) => {
            return Err(not_connected(Some((
                3,
                "error encountered while reading or writing",
            ))))
        }
    };
    match status {
        401 if cookie_failed => return Err(fatal(format!(
            "Could not locate RPC credentials. No authentication cookie could be found, and RPC password is not set.  See -rpcpassword and -stdinrpcpass.  Configuration file: ({})",
            settings.conf_path.display()
        ))),
        401 => return Err(fatal("Authorization failed: Incorrect rpcuser or rpcpassword")),
        503 => return Err(fatal(format!("Server response: {}", String::from_utf8_lossy(&body)))),
        s if s >= 400 && ![400, 404, 500].contains(&s) => {
            return Err(fatal(format!("server returned HTTP error {s}")))
        }
        _ => {}
    }
    if body.is_empty() {
        return Err(fatal("no response from server"));
    }
    let reply = std::str::from_utf8(&body)
        .ok()
        .and_then(Json::parse)
        .ok_or_else(|| fatal("couldn't parse reply from server"))?;
    match &reply {
        Json::Obj(fields) if fields.is_empty() => Err(fatal(
            "expected reply to have result, error and id properties",
        )),
        Json::Obj(_) => Ok(reply),
        other => Err(fatal(format!(
            "JSON value of type {} is not of expected type object",
            other.type_name()
        ))),
    }
}

/// Host and port: `-rpcport`, else a port in `-rpcconnect`, else the
/// chain's default.
fn endpoint(settings: &Settings) -> Result<(String, u16), Retry> {
    let connect = settings.get("rpcconnect").unwrap_or("127.0.0.1");
    let (host, connect_port) = split_host_port(connect)
        .ok_or_else(|| fatal(format!("Invalid port provided in -rpcconnect: {connect}")))?;
    let mut port = connect_port.unwrap_or(settings.chain.2);
    if let Some(p) = settings.get("rpcport") {
        port = p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| fatal(format!("Invalid port provided in -rpcport: {p}")))?;
        if connect_port.is_some() {
            eprintln!(
                "Warning: Port specified in both -rpcconnect and -rpcport. Using -rpcport {port}"
            );
        }
    }
    Ok((host, port))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` for a bad port.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let parse_port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            return match tail.strip_prefix(':') {
                Some(p) => Some((host.to_string(), Some(parse_port(p)?))),
                None => Some((host.to_string(), None)),
            };
        }
    }
    match s.rsplit_once(':') {
        // One colon: host:port. More: a bare IPv6 address.
        Some((host, p)) if !host.contains(':') => Some((host.to_string(), Some(parse_port(p)?))),
        _ => Some((s.to_string(), None)),
    }
}

fn read_cookie(settings: &Settings) -> Option<String> {
    let path = match settings.get("rpccookiefile") {
        Some(p) if Path::new(p).is_absolute() => PathBuf::from(p),
        Some(p) => settings.net_dir().join(p),
        None => settings.net_dir().join(".cookie"),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().next().map(str::to_string)
}

fn connect(host: &str, port: u16, timeout: Duration) -> Option<TcpStream> {
    let addrs = (host, port).to_socket_addrs().ok()?;
    addrs
        .into_iter()
        .find_map(|addr| TcpStream::connect_timeout(&addr, timeout).ok())
}

enum Transport {
    Timeout,
    Eof,
    Io,
}

fn transport(e: &std::io::Error) -> Transport {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Transport::Timeout,
        std::io::ErrorKind::UnexpectedEof => Transport::Eof,
        _ => Transport::Io,
    }
}

/// Sends the request and reads the status and body (by Content-Length,
/// chunked, or to the end of the connection).
fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<(u16, Vec<u8>), Transport> {
    stream.write_all(request).map_err(|e| transport(&e))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(pos) = find(&raw, b"\r\n\r\n") {
            break pos;
        }
        match stream.read(&mut buf) {
            Ok(0) => return Err(Transport::Eof),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(transport(&e)),
        }
    };
    let head = String::from_utf8_lossy(&raw[..header_end]).into_owned();
    let mut body = raw[header_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(Transport::Io)?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse::<usize>().ok();
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let complete = |body: &[u8]| -> bool {
        if chunked {
            dechunk(body).is_some()
        } else {
            length.is_some_and(|n| body.len() >= n)
        }
    };
    while !complete(&body) {
        match stream.read(&mut buf) {
            Ok(0) if length.is_none() && !chunked => break,
            Ok(0) => return Err(Transport::Eof),
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(transport(&e)),
        }
    }
    if chunked {
        body = dechunk(&body).ok_or(Transport::Io)?;
    } else if let Some(n) = length {
        body.truncate(n);
    }
    Ok((status, body))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A complete chunked body's content, `None` while incomplete.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A JSON value as bitcoin-cli's UniValue holds it: numbers keep their
/// text, objects their order (and repeated keys).
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Parses one JSON value with optional surrounding whitespace.
    fn parse(text: &str) -> Option<Json> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
            depth: 0,
        };
        let v = p.value()?;
        p.ws();
        (p.i == p.s.len()).then_some(v)
    }

    /// The first member named `key` of an object.
    fn find(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_int(&self) -> Option<i64> {
        match self {
            Json::Num(n) => n.parse::<i64>().ok().filter(|n| i32::try_from(*n).is_ok()),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Num(_) => "number",
            Json::Str(_) => "string",
            Json::Arr(_) => "array",
            Json::Obj(_) => "object",
        }
    }

    /// UniValue's `getValStr`: a number's or string's text, else empty.
    fn val_str(&self) -> String {
        match self {
            Json::Num(n) => n.clone(),
            Json::Str(s) => s.clone(),
            Json::Bool(true) => "1".into(),
            _ => String::new(),
        }
    }

    fn compact(&self) -> String {
        let mut out = String::new();
        self.write(0, 0, &mut out);
        out
    }

    /// bitcoin-cli's output: two-space indents, `"key": value`.
    fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(2, 0, &mut out);
        out
    }

    /// UniValue's writer, indent level included (an empty array or object
    /// still gets its line break and closing indent).
    fn write(&self, indent: usize, level: usize, out: &mut String) {
        let level = level.max(1);
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', indent * n));
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => escape(s, out),
            Json::Arr(items) => {
                out.push('[');
                if indent > 0 {
                    out.push('\n');
                }
                for (i, item) in items.iter().enumerate() {
                    pad(out, level);
                    item.write(indent, level + 1, out);
                    if i + 1 != items.len() {
                        out.push(',');
                    }
                    if indent > 0 {
                        out.push('\n');
                    }
                }
                pad(out, level - 1);
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                if indent > 0 {
                    out.push('\n');
                }
                for (i, (key, value)) in fields.iter().enumerate() {
                    pad(out, level);
                    escape(key, out);
                    out.push(':');
                    if indent > 0 {
                        out.push(' ');
                    }
                    value.write(indent, level + 1, out);
                    if i + 1 != fields.len() {
                        out.push(',');
                    }
                    if indent > 0 {
                        out.push('\n');
                    }
                }
                pad(out, level - 1);
                out.push('}');
            }
        }
    }
}

/// A quoted string with UniValue's escapes: `\"`, `\\`, the short forms
/// for \b \f \n \r \t, `\u00xx` (lower-case hex) for other control
/// characters and DEL; everything else as is.
fn escape(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A strict JSON parser (RFC 8259 grammar, nesting limited like UniValue).
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Json> {
        self.ws();
        match *self.s.get(self.i)? {
            b'n' => self.eat(b"null").then_some(Json::Null),
            b't' => self.eat(b"true").then_some(Json::Bool(true)),
            b'f' => self.eat(b"false").then_some(Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.enter()?;
                let mut items = Vec::new();
                self.ws();
                if !self.eat(b"]") {
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        if self.eat(b"]") {
                            break;
                        }
                        if !self.eat(b",") {
                            return None;
                        }
                    }
                }
                self.depth -= 1;
                Some(Json::Arr(items))
            }
            b'{' => {
                self.enter()?;
                let mut fields = Vec::new();
                self.ws();
                if !self.eat(b"}") {
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.ws();
                        if !self.eat(b":") {
                            return None;
                        }
                        fields.push((key, self.value()?));
                        self.ws();
                        if self.eat(b"}") {
                            break;
                        }
                        if !self.eat(b",") {
                            return None;
                        }
                    }
                }
                self.depth -= 1;
                Some(Json::Obj(fields))
            }
            b'-' | b'0'..=b'9' => self.number().map(Json::Num),
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.i += 1;
        self.depth += 1;
        (self.depth <= 512).then_some(())
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<String> {
        let start = self.i;
        self.eat(b"-");
        let first = *self.s.get(self.i)?;
        let int_digits = self.digits();
        if int_digits == 0 || (first == b'0' && int_digits > 1) {
            return None;
        }
        if self.eat(b".") && self.digits() == 0 {
            return None;
        }
        if self.i < self.s.len() && matches!(self.s[self.i], b'e' | b'E') {
            self.i += 1;
            if !self.eat(b"+") {
                self.eat(b"-");
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        if !self.eat(b"\"") {
            return None;
        }
        let mut out: Vec<u8> = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return None;
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                0x00..=0x1f => return None,
                b => out.push(b),
            }
        }
    }
}
