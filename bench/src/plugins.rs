//! Sections 1-3: plugin start/stop, call latency and throughput, memory.
//!
//! One bitcoind and one lightningd per peer, so every plugin stays loaded on
//! its own node (they all register `myplugin`, which one node allows only
//! once) and the measurements can be interleaved: each round measures every
//! subject in turn, in a rotating order, so background load (2 shared
//! cores) spreads over all subjects instead of hitting one.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::report::{ratio, Row, Unit};
use crate::rpc::Client;
use crate::setup::Peer;
use crate::stats::Stats;
use crate::Config;

/// Params of every timed `myplugin` call.
fn call_params() -> Value {
    json!(["bench", 1])
}

struct Subject<'a> {
    peer: &'a Peer,
    socket: PathBuf,
    lightningd_pid: u32,
}

pub fn run(cfg: &Config, peers: &[Peer], rows: &mut Vec<Row>) -> Result<()> {
    eprintln!(
        "bench: sections 1-3: starting bitcoind + {} lightningd",
        peers.len() + 1
    );
    // One node per peer, plus one with no plugin for the getinfo floor: the
    // floor's bursts must not load the node of any one peer (measured: on
    // the node that also served the floor, the very same binary answered
    // 1-client calls 35 % slower than on a node of its own).
    let net = cln_itest::Network::with_conf(&cln_itest::Conf::with_nodes(peers.len() + 1))?;
    let floor_socket = net.node(peers.len()).socket_path().to_path_buf();
    let subjects: Vec<Subject> = peers
        .iter()
        .enumerate()
        .map(|(i, peer)| {
            Ok(Subject {
                peer,
                socket: net.node(i).socket_path().to_path_buf(),
                lightningd_pid: net.node(i).pid().context("lightningd has no local pid")?,
            })
        })
        .collect::<Result<_>>()?;

    for s in &subjects {
        check_contract(s)
            .with_context(|| format!("{} does not fulfil the myplugin contract", s.peer.label))?;
    }
    start_stop(cfg, &subjects, rows)?;
    calls_and_memory(cfg, &subjects, &floor_socket, rows)?;
    Ok(())
}

fn start_params(path: &Path) -> Value {
    json!({"subcommand": "start", "plugin": path, "foo_opt": "BAR"})
}

fn start(client: &mut Client, peer: &Peer) -> Result<()> {
    let reply = client.call("plugin", &start_params(&peer.path))?;
    let listed = reply["plugins"].as_array().is_some_and(|ps| {
        ps.iter()
            .any(|p| p["name"] == json!(peer.path) && p["active"] == json!(true))
    });
    ensure!(
        listed,
        "plugin start reply does not list {} as active: {reply}",
        peer.path.display()
    );
    Ok(())
}

fn stop(client: &mut Client, peer: &Peer) -> Result<()> {
    client.call(
        "plugin",
        &json!({"subcommand": "stop", "plugin": peer.name()}),
    )?;
    Ok(())
}

/// Starts the peer, checks the contract's replies, stops it.
fn check_contract(s: &Subject) -> Result<()> {
    let mut c = Client::connect(&s.socket, "check")?;
    let id = c.call("getinfo", &json!({}))?["id"].clone();
    start(&mut c, s.peer)?;
    for params in [
        json!(["a", 1, {"b": null}]),
        json!({"z": 1, "a": [true, "x"]}),
        json!([]),
    ] {
        let reply = c.call("myplugin", &params)?;
        let want = json!({"node_id": id, "option": {"foo_opt": "BAR"}, "cli_params": params});
        ensure!(
            reply == want,
            "myplugin {params} replied {reply}, expected {want}"
        );
        // Key order of an object param must survive too.
        ensure!(
            serde_json::to_string(&reply["cli_params"])? == serde_json::to_string(&params)?,
            "cli_params {} lost the order of {params}",
            reply["cli_params"]
        );
    }
    stop(&mut c, s.peer)?;
    Ok(())
}

fn start_stop(cfg: &Config, subjects: &[Subject], rows: &mut Vec<Row>) -> Result<()> {
    eprintln!(
        "bench: section 1: plugin start/stop, {} cycles per peer (+1 warm-up)",
        cfg.start_cycles
    );
    let mut clients: Vec<Client> = subjects
        .iter()
        .map(|s| Client::connect(&s.socket, "startstop"))
        .collect::<Result<_>>()?;
    let n = subjects.len();
    let mut starts = vec![Vec::new(); n];
    let mut stops = vec![Vec::new(); n];
    for cycle in 0..=cfg.start_cycles {
        for k in 0..n {
            let i = (cycle + k) % n;
            let t = Instant::now();
            start(&mut clients[i], subjects[i].peer)?;
            let started = t.elapsed().as_secs_f64();
            let t = Instant::now();
            stop(&mut clients[i], subjects[i].peer)?;
            let stopped = t.elapsed().as_secs_f64();
            if cycle > 0 {
                starts[i].push(started);
                stops[i].push(stopped);
            }
        }
    }
    let start_stats: Vec<Stats> = starts.iter().map(|v| Stats::of(v)).collect();
    let stop_stats: Vec<Stats> = stops.iter().map(|v| Stats::of(v)).collect();
    let idx = |key: &str| subjects.iter().position(|s| s.peer.key == key);
    let (stdlib, cln) = (idx("py_stdlib"), idx("cln_plugin"));
    for (i, s) in subjects.iter().enumerate() {
        let mut row = Row::timing(
            1,
            "plugin start → active",
            s.peer.label,
            format!("start/{}", s.peer.key),
            &start_stats[i],
        );
        let mut parts = Vec::new();
        if let Some(j) = stdlib {
            parts.push(format!(
                "{} py-stdlib",
                ratio(start_stats[i].median, start_stats[j].median)
            ));
        }
        if s.peer.key == "ours" {
            if let Some(j) = cln {
                parts.push(format!(
                    "{} cln-plugin",
                    ratio(start_stats[i].median, start_stats[j].median)
                ));
            }
            if let (Some(a), Some(b)) = (stdlib, cln) {
                let m = start_stats[i].median;
                row.target = "≤0.2× py-stdlib, ≤1× cln-plugin".into();
                row.met = Some(m <= 0.2 * start_stats[a].median && m <= start_stats[b].median);
            }
        }
        row.ratio = parts.join("; ");
        rows.push(row);
    }
    for (i, s) in subjects.iter().enumerate() {
        let mut row = Row::timing(
            1,
            "plugin stop",
            s.peer.label,
            format!("stop/{}", s.peer.key),
            &stop_stats[i],
        );
        if let Some(j) = stdlib {
            row.ratio = format!(
                "{} py-stdlib",
                ratio(stop_stats[i].median, stop_stats[j].median)
            );
        }
        rows.push(row);
    }
    Ok(())
}

/// `clients` connections, each sending `per_client` calls back to back,
/// all released at once. Returns every call's latency and the wall time
/// from release until the last reply.
fn burst(
    socket: &Path,
    method: &str,
    params: &Value,
    clients: usize,
    per_client: usize,
) -> Result<(Vec<f64>, f64)> {
    let conns: Vec<Client> = (0..clients)
        .map(|i| Client::connect(socket, &format!("c{i}")))
        .collect::<Result<_>>()?;
    let barrier = Barrier::new(clients + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = conns
            .into_iter()
            .map(|mut c| {
                let barrier = &barrier;
                scope.spawn(move || -> Result<Vec<f64>> {
                    let mut lat = Vec::with_capacity(per_client);
                    barrier.wait();
                    for _ in 0..per_client {
                        let t = Instant::now();
                        c.call(method, params)?;
                        lat.push(t.elapsed().as_secs_f64());
                    }
                    Ok(lat)
                })
            })
            .collect();
        barrier.wait();
        let t = Instant::now();
        let mut all = Vec::with_capacity(clients * per_client);
        for h in handles {
            all.extend(h.join().expect("client thread panicked")?);
        }
        Ok((all, t.elapsed().as_secs_f64()))
    })
}

/// Accumulated figures of one subject in section 2.
#[derive(Default)]
struct Acc {
    lat1: Vec<f64>,
    /// 1 client in the rotating order used until 2026-12-07, measured in
    /// the same turns, so that the order's effect shows in every run.
    lat1_rotating: Vec<f64>,
    wall1: f64,
    lat8: Vec<f64>,
    wall8: f64,
}

fn calls_and_memory(
    cfg: &Config,
    subjects: &[Subject],
    floor_socket: &Path,
    rows: &mut Vec<Row>,
) -> Result<()> {
    eprintln!(
        "bench: section 2: {} rounds of {} sequential + {}x{} concurrent calls per subject",
        cfg.call_rounds, cfg.calls_1, cfg.clients, cfg.calls_8
    );
    // Load every peer for good, and note its pid and memory before any call.
    let mut pids = Vec::new();
    let mut rss_start = Vec::new();
    for s in subjects {
        let mut c = Client::connect(&s.socket, "load")?;
        start(&mut c, s.peer)?;
        let pid = plugin_pid(s.lightningd_pid, &s.peer.path)?;
        rss_start.push(vm_kib(pid, "VmRSS")?);
        pids.push(pid);
    }
    // Subject 0 is native getinfo, on the node without a plugin.
    let native = ("getinfo", json!({}));
    let methods: Vec<(&Path, &str, Value)> =
        std::iter::once((floor_socket, native.0, native.1.clone()))
            .chain(
                subjects
                    .iter()
                    .map(|s| (s.socket.as_path(), "myplugin", call_params())),
            )
            .collect();
    let mut accs: Vec<Acc> = methods.iter().map(|_| Acc::default()).collect();
    let mut calls_made = vec![0usize; subjects.len()];
    // Warm-up (includes each plugin's one getinfo), not recorded.
    for (k, (sock, m, p)) in methods.iter().enumerate() {
        burst(sock, m, p, 1, 20)?;
        if k > 0 {
            calls_made[k - 1] += 20;
        }
    }
    let mut single: Vec<Client> = methods
        .iter()
        .map(|(sock, _, _)| Client::connect(sock, "single"))
        .collect::<Result<_>>()?;
    let m = methods.len();
    for round in 0..cfg.call_rounds {
        // 1 client: one call to each subject in turn, so that load from
        // outside the bench (a shared machine) falls on every subject
        // alike (measured in blocks of calls per subject, the same binary
        // differed by 30-40 % between two slots of one run). The order is
        // shuffled for every turn: a rotation keeps each subject's
        // predecessor fixed (the subject after the getinfo floor always
        // ran right after lightningd's biggest reply), a bias of its own.
        for i in 0..cfg.calls_1 {
            for j in 0..m {
                let k = (round + i + j) % m;
                let (_, method, params) = &methods[k];
                let t = Instant::now();
                single[k].call(method, params)?;
                accs[k].lat1_rotating.push(t.elapsed().as_secs_f64());
            }
            for k in crate::stats::shuffled(m, (round * cfg.calls_1 + i) as u64) {
                let (_, method, params) = &methods[k];
                let t = Instant::now();
                single[k].call(method, params)?;
                let took = t.elapsed().as_secs_f64();
                accs[k].lat1.push(took);
                accs[k].wall1 += took;
            }
        }
        for j in 0..m {
            let k = (round + j) % m;
            let (sock, method, params) = &methods[k];
            let (lat, wall) = burst(sock, method, params, cfg.clients, cfg.calls_8)?;
            accs[k].lat8.extend(lat);
            accs[k].wall8 += wall;
            if k > 0 {
                calls_made[k - 1] += 2 * cfg.calls_1 + cfg.clients * cfg.calls_8;
            }
        }
    }
    let labels: Vec<(String, &str)> =
        std::iter::once(("native".to_string(), "lightningd getinfo (floor)"))
            .chain(
                subjects
                    .iter()
                    .map(|s| (s.peer.key.to_string(), s.peer.label)),
            )
            .collect();
    // The same rows for 1 client and for `cfg.clients` clients, each against
    // its own getinfo floor (the first accumulator).
    let one_client = "call latency, 1 client".to_string();
    let many_clients = format!("call latency, {} clients", cfg.clients);
    for (measure, prefix, many) in [
        (&one_client, "call1", false),
        (&many_clients, "call8", true),
    ] {
        let samples = |a: &Acc| if many { a.lat8.clone() } else { a.lat1.clone() };
        let floor = Stats::of(&samples(&accs[0]));
        for (k, (key, label)) in labels.iter().enumerate() {
            let s = Stats::of(&samples(&accs[k]));
            let mut row = Row::timing(2, measure, label, format!("{prefix}/{key}"), &s);
            if k > 0 {
                row.ratio = format!("{} getinfo", ratio(s.median, floor.median));
                if key == "ours" {
                    row.target = "≤2× getinfo".into();
                    row.met = Some(s.median <= 2.0 * floor.median);
                }
            }
            rows.push(row);
        }
    }
    // The old order, beside the new one: no target, the same calls.
    let floor = Stats::of(&accs[0].lat1_rotating);
    for (k, (key, label)) in labels.iter().enumerate() {
        let s = Stats::of(&accs[k].lat1_rotating);
        let mut row = Row::timing(
            2,
            "call latency, 1 client, rotating order (before 2026-12-07)",
            label,
            format!("call1_rotating/{key}"),
            &s,
        );
        if k > 0 {
            row.ratio = format!("{} getinfo", ratio(s.median, floor.median));
        }
        rows.push(row);
    }
    // Back to back on one connection, beside (not instead of) the
    // interleaved rows above.
    let targets: Vec<crate::back_to_back::Target> = methods
        .iter()
        .zip(&labels)
        .map(
            |((socket, method, params), (key, label))| crate::back_to_back::Target {
                socket,
                method,
                params: params.clone(),
                key,
                label,
            },
        )
        .collect();
    let b2b_rows_at = rows.len();
    let b2b_calls = crate::back_to_back::run(cfg, &targets, rows)?;
    for (k, calls) in b2b_calls.iter().enumerate().skip(1) {
        calls_made[k - 1] += calls;
    }
    // Keep the back-to-back rows after the interleaved ones in the table.
    let b2b_rows: Vec<Row> = rows.drain(b2b_rows_at..).collect();

    let tput1: Vec<f64> = accs.iter().map(|a| a.lat1.len() as f64 / a.wall1).collect();
    let tput8: Vec<f64> = accs.iter().map(|a| a.lat8.len() as f64 / a.wall8).collect();
    for (name, tput, accs_n, tag) in [
        (
            "calls/s, 1 client".to_string(),
            &tput1,
            accs.iter().map(|a| a.lat1.len()).collect::<Vec<_>>(),
            "tput1",
        ),
        (
            format!("calls/s, {} clients", cfg.clients),
            &tput8,
            accs.iter().map(|a| a.lat8.len()).collect(),
            "tput8",
        ),
    ] {
        for (k, (key, label)) in labels.iter().enumerate() {
            let mut row = Row::new(
                2,
                &name,
                label,
                format!("{tag}/{key}"),
                Unit::PerSecond,
                tput[k],
            );
            row.n = accs_n[k];
            if k > 0 {
                row.ratio = format!("{} getinfo", ratio(tput[k], tput[0]));
            }
            rows.push(row);
        }
    }

    rows.extend(b2b_rows);

    eprintln!(
        "bench: section 3: topping every plugin up to {} calls, then reading VmRSS",
        cfg.mem_calls
    );
    let mut rss_end = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        let chunk = cfg.clients * 250;
        while calls_made[i] < cfg.mem_calls {
            let left = cfg.mem_calls - calls_made[i];
            let per = (left.min(chunk)).div_ceil(cfg.clients);
            burst(&s.socket, "myplugin", &call_params(), cfg.clients, per)?;
            calls_made[i] += per * cfg.clients;
        }
        ensure!(
            crate::alive(pids[i]),
            "{} died during the calls",
            s.peer.label
        );
        rss_end.push((vm_kib(pids[i], "VmRSS")?, vm_kib(pids[i], "VmHWM")?));
    }
    let ours_rss = rss_end[0].0 as f64;
    for (i, s) in subjects.iter().enumerate() {
        let (rss, hwm) = rss_end[i];
        let mut row = Row::new(
            3,
            &format!("VmRSS after ≥{} calls", cfg.mem_calls),
            s.peer.label,
            format!("rss/{}", s.peer.key),
            Unit::MiB,
            rss as f64 / 1024.0,
        );
        row.n = calls_made[i];
        row.ratio = format!(
            "{} ours; {:.1} MiB at start, peak {:.1}",
            ratio(rss as f64, ours_rss),
            rss_start[i] as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
        row.extra = json!({"pid": pids[i], "vmrss_kib": rss, "vmhwm_kib": hwm, "vmrss_at_start_kib": rss_start[i], "calls": calls_made[i]});
        rows.push(row);
    }
    for s in subjects {
        let mut c = Client::connect(&s.socket, "unload")?;
        stop(&mut c, s.peer)?;
    }
    Ok(())
}

/// The pid of the child of `lightningd` running `plugin` (directly, or as
/// an interpreter's script argument).
pub fn plugin_pid(lightningd: u32, plugin: &Path) -> Result<u32> {
    let want = plugin.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(lightningd) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).any(|arg| arg == want.as_bytes()) {
            return Ok(pid);
        }
    }
    bail!("no child of lightningd {lightningd} runs {want}")
}

/// A `Vm*` line of /proc/<pid>/status, in KiB.
pub fn vm_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
