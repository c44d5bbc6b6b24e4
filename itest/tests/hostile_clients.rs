//! Issue 21 through the real lightningd: several clients at once send
//! hostile and ordinary calls of `myplugin` over lightningd's RPC socket.
//! lightningd forwards each as the client's own bytes with only its first
//! `id` swapped (lightningd/plugin.c, `plugin_rpcmethod_dispatch`), so
//! these are exactly the bytes the plugin's reader must get right.
//!
//! Checked: every client gets exactly one reply to each call, to its own
//! call (its id, and the content that call asked for), before its next
//! call; objects nested in one client's params, shaped like requests with
//! the ids lightningd gives other clients' calls, are never answered;
//! lightningd never kills the plugin.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

mod support;

use cln_itest::{Conf, Network};
use serde_json::{json, Value};

use support::myplugin;

const CLIENTS: usize = 8;
const CALLS_PER_CLIENT: usize = 40;

/// What a call must get back.
enum Expect {
    /// A result whose `cli_params` are these.
    Params(Value),
    /// An error with this code.
    Error(i64),
}

/// A small deterministic generator, so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// Params that lightningd's tokenizer accepts and forwards, but that are
/// not JSON (issue 21, case 1).
const NOT_JSON: &[&str] = &[
    "[-Infinity]",
    "[1.2.3]",
    "[01]",
    "[nan]",
    "[1 2]",
    "[1,,2]",
    "[1,]",
    r#"{"a":1,}"#,
    "[\"a\tb\"]",
    "[\"a\u{1}b\"]",
    "[tru]",
];

/// The ids lightningd may have given other clients' calls: v26 prefixes
/// the client's id (`"c3-7/cln:myplugin#12"`), v23 counts.
fn guessed_ids(rng: &mut Rng) -> Vec<String> {
    let client = rng.next() % CLIENTS as u64;
    let call = rng.next() % CALLS_PER_CLIENT as u64;
    let seq = rng.next() % 400;
    vec![
        format!("\"c{client}-{call}/cln:myplugin#{seq}\""),
        format!("\"c{client}-{call}\""),
        seq.to_string(),
        format!("\"cln:myplugin#{seq}\""),
    ]
}

/// One generated call: its bytes (with `"id"` anywhere) and what it must
/// get back.
fn generated_call(rng: &mut Rng, id: &str) -> (String, Expect) {
    let nonce = format!("{id}:{}", rng.next());
    match rng.next() % 6 {
        // Ordinary, id first.
        0 => (
            format!(r#"{{"jsonrpc":"2.0","id":"{id}","method":"myplugin","params":["{nonce}"]}}"#),
            Expect::Params(json!([nonce])),
        ),
        // Ordinary, params before the id (pyln-client's order).
        1 => (
            format!(
                r#"{{"jsonrpc":"2.0","method":"myplugin","params":{{"n":"{nonce}"}},"id":"{id}"}}"#
            ),
            Expect::Params(json!({"n": nonce})),
        ),
        // Not JSON, the id last (case 1).
        2 => (
            format!(
                r#"{{"jsonrpc":"2.0","method":"myplugin","params":{},"id":"{id}"}}"#,
                rng.pick(NOT_JSON)
            ),
            Expect::Error(-32700),
        ),
        // Requests with other calls' ids nested in broken params (case 2).
        3 => {
            let nested: Vec<String> = guessed_ids(rng)
                .into_iter()
                .map(|other| {
                    format!(
                        r#"{{"jsonrpc":"2.0","id":{other},"method":"myplugin","params":["evil"]}}"#
                    )
                })
                .collect();
            (
                format!(
                    r#"{{"jsonrpc":"2.0","method":"myplugin","params":[1.2.3,{}],"id":"{id}"}}"#,
                    nested.join(",")
                ),
                Expect::Error(-32700),
            )
        }
        // A second raw `id` member, and one spelt with an escape (case 3).
        4 => (
            format!(
                r#"{{"jsonrpc":"2.0","id":"{id}","\u0069d":{},"method":"myplugin","params":["{nonce}"],"id":"{id}-dup"}}"#,
                guessed_ids(rng)[0]
            ),
            Expect::Params(json!([nonce])),
        ),
        // An id alone nested in non-JSON params, lightning-cli style.
        _ => (
            format!(
                r#"{{"jsonrpc":"2.0","id":"{id}","method":"myplugin","params":["1.2.3",1.2.3,{{"id":{}}}]}}"#,
                guessed_ids(rng)[1]
            ),
            Expect::Error(-32700),
        ),
    }
}

/// One client's run: each call, then its one reply. Returns how many
/// calls it made.
fn client(socket: &std::path::Path, index: usize) -> usize {
    let mut stream = UnixStream::connect(socket).expect("connecting to lightningd's socket");
    // A bound against hanging forever, not a latency assertion.
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    let mut replies = serde_json::Deserializer::from_reader(reader).into_iter::<Value>();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((index as u64 + 1) * 0x1234_5678));
    for call in 0..CALLS_PER_CLIENT {
        let id = format!("c{index}-{call}");
        let (bytes, expect) = generated_call(&mut rng, &id);
        stream.write_all(bytes.as_bytes()).unwrap();
        stream.write_all(b"\n\n").unwrap();
        let reply = replies
            .next()
            .unwrap_or_else(|| panic!("{id}: lightningd closed the connection"))
            .unwrap_or_else(|e| panic!("{id}: no reply within the bound: {e}"));
        assert_eq!(
            reply["id"],
            json!(id),
            "{id} got another call's reply: {reply}\nsent {bytes}"
        );
        match expect {
            Expect::Params(params) => assert_eq!(
                reply["result"]["cli_params"], params,
                "{id}: {reply}\nsent {bytes}"
            ),
            Expect::Error(code) => assert_eq!(
                reply["error"]["code"],
                json!(code),
                "{id}: {reply}\nsent {bytes}"
            ),
        }
    }
    CALLS_PER_CLIENT
}

cln_itest::needs_lightningd! {
#[test]
fn every_client_gets_one_reply_to_its_own_call() {
    let net = Network::with_conf(&Conf::with_nodes(1)).expect("starting the regtest network");
    let l1 = net.node(0);
    l1.plugin_start(myplugin(), &[]).expect("plugin start myplugin");
    let socket = l1.socket_path().to_path_buf();
    let calls: usize = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let socket = socket.clone();
                scope.spawn(move || client(&socket, i))
            })
            .collect();
        clients.into_iter().map(|c| c.join().expect("a client failed")).sum()
    });
    assert_eq!(calls, CLIENTS * CALLS_PER_CLIENT);
    // lightningd never killed the plugin: it is listed and still answers.
    let listed = l1.plugin_list().expect("plugin list");
    let active = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"].as_str().is_some_and(|n| n.ends_with("/myplugin")) && p["active"] == json!(true));
    assert!(active, "myplugin is gone: {listed}");
    let reply = l1.call("myplugin", json!(["final"])).expect("myplugin after the run");
    assert_eq!(reply["cli_params"], json!(["final"]));
    eprintln!("{CLIENTS} clients, {calls} calls, one reply each, to its own call");
}
}
