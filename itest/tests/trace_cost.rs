//! What tracing a plugin costs, measured rather than asserted: the
//! latency of a call of a plugin's RPC method (lightningd -> plugin ->
//! lightningd) with the plugin plain, traced through the relay, and with
//! lightningd's io logging of the plugin on, and what each leaves behind.
//! Ignored by default (it prints numbers, and timing is no test):
//! `cargo test -p cln-itest --test trace_cost -- --ignored --nocapture`.

mod support;

use std::time::{Duration, Instant};

use cln_itest::{Conf, Network, Node, NodeConf, PluginConf};
use serde_json::json;

use support::fixture;

const PLUGIN: &str = "peer_hook.py";
const ROUNDS: usize = 300;

fn quantiles(mut d: Vec<Duration>) -> String {
    d.sort();
    let q = |p: f64| d[((d.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    format!(
        "median {:>7.0} us  p90 {:>7.0} us  p99 {:>7.0} us",
        q(0.5),
        q(0.9),
        q(0.99)
    )
}

cln_itest::needs_lightningd! {
#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn measure_the_cost_of_tracing_a_plugin() {
    let plain = NodeConf::default().with_plugin(fixture(PLUGIN), []);
    let traced = NodeConf::default().with_plugin_conf(PluginConf::new(fixture(PLUGIN)).traced());
    let io_logged = NodeConf::default()
        .with_plugin(fixture(PLUGIN), [])
        .with_option(format!("--log-level=io:plugin-{PLUGIN}"));
    let net = Network::with_conf(&Conf::from_nodes([plain, traced, io_logged])).unwrap();
    let nodes: Vec<(&str, &Node)> = vec![
        ("plain", net.node(0)),
        ("relay", net.node(1)),
        ("io log", net.node(2)),
    ];
    for (label, payload) in [("small", "x".repeat(16)), ("100 kB", "x".repeat(100_000))] {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); nodes.len()];
        // Interleaved, so that load on the machine hits every variant alike.
        for _ in 0..ROUNDS {
            for (i, (_, node)) in nodes.iter().enumerate() {
                let started = Instant::now();
                let reply = node.call("echo", json!({"p": payload})).unwrap();
                times[i].push(started.elapsed());
                assert_eq!(reply["params"]["p"].as_str().map(str::len), Some(payload.len()));
            }
        }
        for ((name, _), t) in nodes.iter().zip(times) {
            println!("echo {label:>6} {name:>7}: {}", quantiles(t));
        }
    }
    let trace = net.node(1).plugin_trace(PLUGIN).unwrap();
    assert!(trace.requests("echo").count() >= 2 * ROUNDS);
    let trace_bytes = std::fs::metadata(trace.path()).unwrap().len();
    let log = |n: usize| std::fs::read_to_string(net.node(n).lightning_dir().join("log")).unwrap();
    let io = log(2);
    let io_in = io.lines().filter(|l| l.contains(&format!("plugin-{PLUGIN}")) && l.contains("[IN]")).count();
    let io_out = io.lines().filter(|l| l.contains(&format!("plugin-{PLUGIN}")) && l.contains("[OUT]")).count();
    let sample = |dir: &str| {
        io.lines()
            .find(|l| l.contains(&format!("plugin-{PLUGIN}")) && l.contains(dir))
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>()
    };
    println!(
        "relay: {} messages, trace {trace_bytes} bytes; log {} bytes (plain: {} bytes)",
        trace.messages().len(),
        log(1).len(),
        log(0).len()
    );
    println!("io log: {io_in} [IN] lines, {io_out} [OUT] lines, log {} bytes", io.len());
    println!("  e.g. {}\n  e.g. {}", sample("[IN]"), sample("[OUT]"));
    net.finish().unwrap();
}
}
