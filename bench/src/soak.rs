//! Section 6: soak. 16 clients × 625 `myplugin` calls at once on one real
//! node running our plugin, three times over. Every reply is checked against
//! the request it answers (node id, option, the caller's own params), so a
//! lost, duplicated or crossed reply fails the section; VmRSS after each
//! round shows whether memory stays flat.

use std::sync::Barrier;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use serde_json::json;

use crate::plugins::{plugin_pid, vm_kib};
use crate::report::{Row, Unit};
use crate::rpc::Client;
use crate::setup::Peer;

const CLIENTS: usize = 16;
const CALLS_PER_CLIENT: usize = 625;
const ROUNDS: usize = 3;

pub fn run(ours: &Peer, rows: &mut Vec<Row>) -> Result<()> {
    eprintln!("bench: section 6: soak, {ROUNDS} rounds of {CLIENTS} x {CALLS_PER_CLIENT} calls");
    let net = cln_itest::Network::with_conf(&cln_itest::Conf::with_nodes(1))?;
    let node = net.node(0);
    let socket = node.socket_path().to_path_buf();
    let mut admin = Client::connect(&socket, "soak")?;
    let node_id = admin.call("getinfo", &json!({}))?["id"].clone();
    admin.call(
        "plugin",
        &json!({"subcommand": "start", "plugin": ours.path, "foo_opt": "BAR"}),
    )?;
    let node_pid = node.pid().context("the soak node is not running")?;
    let pid = plugin_pid(node_pid, &ours.path)?;
    admin.call("myplugin", &json!([]))?; // the one getinfo
    let rss_start = vm_kib(pid, "VmRSS")?;
    let mut rss = Vec::new();
    for round in 1..=ROUNDS {
        let started = Instant::now();
        let answered = soak_round(&socket, &node_id, round)?;
        let wall = started.elapsed().as_secs_f64();
        ensure!(
            crate::alive(pid),
            "our plugin died during soak round {round}"
        );
        rss.push(vm_kib(pid, "VmRSS")?);
        let mut row = Row::new(
            6,
            &format!("soak {CLIENTS}×{CALLS_PER_CLIENT} calls, round {round}"),
            "ours (Rust, by hand)",
            format!("soak/{round}"),
            Unit::PerSecond,
            answered as f64 / wall,
        );
        row.n = answered;
        row.ratio = format!(
            "{answered}/{} answered correctly, 0 lost; VmRSS {:.1} MiB (at start {:.1})",
            CLIENTS * CALLS_PER_CLIENT,
            *rss.last().unwrap() as f64 / 1024.0,
            rss_start as f64 / 1024.0
        );
        row.extra =
            json!({"wall_s": wall, "vmrss_kib": rss.last(), "vmrss_at_start_kib": rss_start});
        rows.push(row);
    }
    let mut row = Row::new(
        6,
        "soak VmRSS growth, round 1 → last",
        "ours (Rust, by hand)",
        "soak/rss_growth".into(),
        Unit::MiB,
        (rss[ROUNDS - 1] as f64 - rss[0] as f64) / 1024.0,
    );
    row.target = "flat (≤ 0.5 MiB)".into();
    row.met = Some(rss[ROUNDS - 1] <= rss[0] + 512);
    row.extra = json!({"vmrss_kib": rss});
    rows.push(row);
    Ok(())
}

/// One round; returns the number of correct replies (all of them, or an
/// error naming the first bad one).
fn soak_round(
    socket: &std::path::Path,
    node_id: &serde_json::Value,
    round: usize,
) -> Result<usize> {
    let conns: Vec<Client> = (0..CLIENTS)
        .map(|i| Client::connect(socket, &format!("soak{round}c{i}")))
        .collect::<Result<_>>()?;
    let barrier = Barrier::new(CLIENTS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(client, mut c)| {
                let barrier = &barrier;
                scope.spawn(move || -> Result<usize> {
                    barrier.wait();
                    for i in 0..CALLS_PER_CLIENT {
                        let params = json!(["soak", round, client, i]);
                        let reply = c
                            .call("myplugin", &params)
                            .with_context(|| format!("call {i} of client {client}"))?;
                        let want = json!({"node_id": node_id, "option": {"foo_opt": "BAR"}, "cli_params": params});
                        ensure!(reply == want, "client {client} call {i}: got {reply}, want {want}");
                    }
                    Ok(CALLS_PER_CLIENT)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("soak client panicked"))
            .sum()
    })
}
