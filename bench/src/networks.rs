//! Section 4: from nothing to bitcoind + 2 lightningd + myplugin active on
//! l1, with our harness, with pyln-testing and with scripts/start_ln.sh,
//! interleaved round by round. All three load the same plugin binary (our
//! release build) with foo_opt=BAR, and use the same lightningd/bitcoind
//! (from PATH). Our harness also runs with every daemon in a container
//! (the docker backend, images from `ITEST_BITCOIND_IMAGE` and
//! `ITEST_LIGHTNINGD_IMAGE`), in the same rounds as its native runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::report::{ratio, Row};
use crate::rpc::Client;
use crate::setup::Paths;
use crate::stats::Stats;
use crate::Config;

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[derive(Default)]
struct Samples {
    ready: Vec<f64>,
    /// pyln-testing only: ready measured from pytest's spawn (interpreter
    /// start, imports, collection included).
    ready_from_spawn: Vec<f64>,
    teardown: Vec<f64>,
    /// Our harness only: each round's timeline (`Network::timeline`).
    timelines: Vec<Vec<cln_itest::Step>>,
    error: Option<String>,
}

pub fn run(cfg: &Config, paths: &Paths, plugin: &Path, rows: &mut Vec<Row>) -> Result<()> {
    eprintln!(
        "bench: section 4: network-ready time, {} rounds",
        cfg.net_rounds
    );
    let start_ln = paths.workspace.join("scripts").join("start_ln.sh");
    let mut itest = Samples::default();
    let mut pyln = Samples::default();
    let mut sh = Samples::default();
    let mut docker = Samples::default();
    if !start_ln.exists() {
        sh.error = Some(format!("{} does not exist", start_ln.display()));
    }
    if let Err(e) = cln_itest::docker::engine_check() {
        docker.error = Some(e.to_string());
    }
    let mut floor: Vec<crate::floor::FloorRun> = Vec::new();
    for round in 0..cfg.net_rounds {
        for k in 0..5 {
            match (round + k) % 5 {
                3 if docker.error.is_none() => {
                    if let Err(e) = itest_docker_once(plugin, &mut docker) {
                        eprintln!("bench: the docker backend failed: {e:#}");
                        docker.error = Some(format!("{e:#}"));
                    }
                }
                0 => {
                    if let Err(e) = itest_once(plugin, &mut itest) {
                        bail!("our harness failed to start a network: {e:#}");
                    }
                }
                1 if pyln.error.is_none() => {
                    if let Err(e) = pyln_once(paths, plugin, round, &mut pyln) {
                        eprintln!("bench: pyln-testing failed: {e:#}");
                        pyln.error = Some(format!("{e:#}"));
                    }
                }
                2 if sh.error.is_none() => {
                    if let Err(e) = start_ln_once(&start_ln, plugin, round, &mut sh) {
                        eprintln!("bench: start_ln.sh failed: {e:#}");
                        sh.error = Some(format!("{e:#}"));
                    }
                }
                4 => floor.push(crate::floor::run_once(plugin).context("the hand-started floor")?),
                _ => {}
            }
        }
    }
    let measure = "network ready (bitcoind+2 lightningd+plugin)";
    let pyln_ready = Stats::of(&pyln.ready);
    let ours = Stats::of(&itest.ready);
    let mut row = Row::timing(4, measure, "our itest harness", "ready/itest".into(), &ours);
    if pyln.error.is_none() {
        row.ratio = format!("{} pyln-testing", ratio(ours.median, pyln_ready.median));
        row.target = "≤0.3× pyln-testing".into();
        row.met = Some(ours.median <= 0.3 * pyln_ready.median);
    }
    rows.push(row);
    let docker_measure = "network ready, docker backend";
    match &docker.error {
        Some(e) => rows.push(Row::missing(
            4,
            docker_measure,
            "our harness, every daemon in a container",
            "ready/itest_docker".into(),
            &first_line(e),
        )),
        None => {
            let s = Stats::of(&docker.ready);
            let mut row = Row::timing(
                4,
                docker_measure,
                "our harness, every daemon in a container",
                "ready/itest_docker".into(),
                &s,
            );
            row.ratio = format!("{} native", ratio(s.median, ours.median));
            row.target = "≤2× native".into();
            row.met = Some(s.median <= 2.0 * ours.median);
            rows.push(row);
        }
    }
    // The harness keeps one thing per process: `lightningd --version/--help`
    // (cached per binary). Round 1 is the first network of this process
    // unless sections 1-3 already started one here.
    if let Some((first, rest)) = itest.ready.split_first() {
        let cold = if cfg_ran_plugins(rows) {
            "our harness, round 1 (lightningd inspection cached by §1-3)"
        } else {
            "our harness, round 1 (first network of the process)"
        };
        let s = Stats::of(&[*first]);
        let mut row = Row::timing(4, measure, cold, "ready/itest_first".into(), &s);
        row.ratio = format!("{} pyln-testing", ratio(s.median, pyln_ready.median));
        rows.push(row);
        if !rest.is_empty() {
            let s = Stats::of(rest);
            let mut row = Row::timing(
                4,
                measure,
                "our harness, rounds 2.. (warm)",
                "ready/itest_warm".into(),
                &s,
            );
            row.ratio = format!("{} pyln-testing", ratio(s.median, pyln_ready.median));
            rows.push(row);
        }
    }
    if let Some(e) = &pyln.error {
        rows.push(Row::missing(
            4,
            measure,
            "pyln-testing",
            "ready/pyln".into(),
            &first_line(e),
        ));
    } else {
        let mut row = Row::timing(
            4,
            measure,
            "pyln-testing (fixture setup)",
            "ready/pyln".into(),
            &pyln_ready,
        );
        row.ratio = "1.00× pyln-testing".into();
        rows.push(row);
        let s = Stats::of(&pyln.ready_from_spawn);
        let mut row = Row::timing(
            4,
            measure,
            "pyln-testing (from pytest spawn)",
            "ready/pyln_spawn".into(),
            &s,
        );
        row.ratio = format!("{} pyln-testing", ratio(s.median, pyln_ready.median));
        rows.push(row);
    }
    if let Some(e) = &sh.error {
        rows.push(Row::missing(
            4,
            measure,
            "scripts/start_ln.sh",
            "ready/start_ln".into(),
            &first_line(e),
        ));
    } else {
        let s = Stats::of(&sh.ready);
        let mut row = Row::timing(
            4,
            measure,
            "scripts/start_ln.sh",
            "ready/start_ln".into(),
            &s,
        );
        if pyln.error.is_none() {
            row.ratio = format!("{} pyln-testing", ratio(s.median, pyln_ready.median));
        }
        rows.push(row);
    }
    phase_rows(&itest, &floor, ours.median, rows);
    let teardown = "network teardown";
    let base = Stats::of(&pyln.teardown);
    for (subject, key, samples) in [
        ("our itest harness", "itest", &itest),
        ("our harness, docker backend", "itest_docker", &docker),
        ("pyln-testing", "pyln", &pyln),
        ("scripts/start_ln.sh (destroy_ln)", "start_ln", &sh),
    ] {
        if samples.error.is_some() {
            continue;
        }
        let s = Stats::of(&samples.teardown);
        let mut row = Row::timing(4, teardown, subject, format!("teardown/{key}"), &s);
        if pyln.error.is_none() {
            row.ratio = format!("{} pyln-testing", ratio(s.median, base.median));
        }
        rows.push(row);
    }
    Ok(())
}

/// Whether sections 1-3 ran earlier in this process (their rows are in).
fn cfg_ran_plugins(rows: &[Row]) -> bool {
    rows.iter().any(|r| (1..=3).contains(&r.section))
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").to_string();
    if line.chars().count() > 90 {
        line.chars().take(90).collect::<String>() + "…"
    } else {
        line
    }
}

fn check_plugin(socket: &Path) -> Result<()> {
    let mut c = Client::connect(socket, "ready")?;
    let reply = c.call("myplugin", &json!(["bench"]))?;
    ensure!(
        reply["option"] == json!({"foo_opt": "BAR"}),
        "unexpected myplugin reply {reply}"
    );
    Ok(())
}

fn itest_once(plugin: &Path, out: &mut Samples) -> Result<()> {
    let t = Instant::now();
    let net = cln_itest::Network::start()?;
    net.node(0).plugin_start(plugin, &[("foo_opt", "BAR")])?;
    out.ready.push(t.elapsed().as_secs_f64());
    out.timelines.push(net.timeline());
    check_plugin(net.node(0).socket_path())?;
    let t = Instant::now();
    drop(net);
    out.teardown.push(t.elapsed().as_secs_f64());
    Ok(())
}

/// [`itest_once`] with bitcoind and both nodes in containers.
fn itest_docker_once(plugin: &Path, out: &mut Samples) -> Result<()> {
    let mut conf = cln_itest::Conf::default();
    conf.bitcoind_backend = cln_itest::Backend::Docker;
    conf.lightningd_backend = cln_itest::Backend::Docker;
    // The release plugin is outside the default mounts (a test binary's
    // target dir); its container must see it.
    conf.container_mounts
        .extend(plugin.parent().map(Path::to_path_buf));
    let t = Instant::now();
    let net = cln_itest::Network::with_conf(&conf)?;
    net.node(0).plugin_start(plugin, &[("foo_opt", "BAR")])?;
    out.ready.push(t.elapsed().as_secs_f64());
    check_plugin(net.node(0).socket_path())?;
    let t = Instant::now();
    drop(net);
    out.teardown.push(t.elapsed().as_secs_f64());
    Ok(())
}

fn pyln_once(paths: &Paths, plugin: &Path, round: usize, out: &mut Samples) -> Result<()> {
    let work = paths.out.join("pyln-work");
    std::fs::create_dir_all(&work)?;
    let stamps = work.join(format!("stamps-{}-{round}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&stamps);
    let test = paths.bench_dir.join("pyln").join("test_network_ready.py");
    let spawned = epoch();
    let output = Command::new(paths.venv_python())
        .args([
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-o",
            "console_output_style=classic",
        ])
        .arg(&test)
        .current_dir(&work)
        .env("BENCH_PYLN_OUT", &stamps)
        .env("BENCH_PLUGIN", plugin)
        .env("VALGRIND", "0")
        .env("TEST_DEBUG", "0")
        // This lightningd has no Rust plugins (no cln-grpc); unset, RUST
        // makes pyln-testing pass --grpc-port, which lightningd refuses.
        .env("RUST", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .context("running pytest")?;
    let text = std::fs::read_to_string(&stamps).unwrap_or_default();
    let line: Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    if !output.status.success() || line["passed"] != json!(true) {
        let log = String::from_utf8_lossy(&output.stdout);
        let tail: Vec<&str> = log.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "pytest {} with pyln-testing failed ({}):\n{}",
            test.display(),
            output.status,
            tail.join("\n")
        );
    }
    let f = |k: &str| {
        line[k]
            .as_f64()
            .with_context(|| format!("no {k} in {line}"))
    };
    out.ready.push(f("ready")? - f("setup_start")?);
    out.ready_from_spawn.push(f("ready")? - spawned);
    out.teardown.push(f("teardown_end")? - f("teardown_start")?);
    Ok(())
}

fn start_ln_once(script: &Path, plugin: &Path, round: usize, out: &mut Samples) -> Result<()> {
    // A fresh dir the script creates itself (it refuses dirs it did not make).
    let dir = PathBuf::from(format!(
        "/tmp/bench-start_ln-{}-{round}",
        std::process::id()
    ));
    ensure!(!dir.exists(), "{} already exists", dir.display());
    let bash = |body: &str| {
        Command::new("bash")
            .args([
                "-c",
                body,
                "bench",
                &script.to_string_lossy(),
                &plugin.to_string_lossy(),
            ])
            .env("LIGHTNING_DIR", &dir)
            .env("START_LN_QUIET", "1")
            .stdin(Stdio::null())
            .output()
    };
    let t = Instant::now();
    let up = bash(
        r#"source "$1" || exit 1
start_ln 2 || exit 1
l1-cli -k plugin subcommand=start plugin="$2" foo_opt=BAR >/dev/null || exit 1"#,
    )?;
    let ready = t.elapsed().as_secs_f64();
    let checked = if up.status.success() {
        check_plugin(&dir.join("l1/regtest/lightning-rpc"))
    } else {
        Err(anyhow::anyhow!(
            "start_ln 2 + plugin start failed ({}): {}",
            up.status,
            String::from_utf8_lossy(&up.stderr).trim()
        ))
    };
    let t = Instant::now();
    let down = bash(r#"source "$1" || exit 1; destroy_ln"#)?;
    let teardown = t.elapsed().as_secs_f64();
    checked?;
    ensure!(
        down.status.success(),
        "destroy_ln failed ({}): {}",
        down.status,
        String::from_utf8_lossy(&down.stderr).trim()
    );
    out.ready.push(ready);
    out.teardown.push(teardown);
    Ok(())
}

/// The harness's steps while it built each network (its timeline: how long
/// each took and when it ended, from the start of the network), beside the
/// same daemons started by hand ([`crate::floor`]), and the harness's
/// overhead over that floor.
fn phase_rows(itest: &Samples, floor: &[crate::floor::FloorRun], ready: f64, rows: &mut Vec<Row>) {
    let mut names: Vec<String> = Vec::new();
    for step in itest.timelines.iter().flatten() {
        if !names.contains(&step.what) {
            names.push(step.what.clone());
        }
    }
    for name in &names {
        let steps = itest.timelines.iter().flatten().filter(|s| &s.what == name);
        let (took, ends): (Vec<f64>, Vec<f64>) = steps
            .map(|s| (s.took.as_secs_f64(), (s.began + s.took).as_secs_f64()))
            .unzip();
        let s = Stats::of(&took);
        let mut row = Row::timing(4, "  our harness, step", name, format!("step/{name}"), &s);
        row.ratio = format!(
            "ends at {} ({} of ready)",
            crate::stats::fmt_secs(Stats::of(&ends).median),
            ratio(Stats::of(&ends).median, ready)
        );
        rows.push(row);
    }
    if floor.is_empty() {
        return;
    }
    for (i, name) in crate::floor::STEPS.iter().enumerate() {
        let took: Vec<f64> = floor.iter().map(|f| f.steps[i]).collect();
        let s = Stats::of(&took);
        rows.push(Row::timing(
            4,
            "  floor (by hand), step",
            name,
            format!("floor_step/{name}"),
            &s,
        ));
    }
    let f = Stats::of(&floor.iter().map(|f| f.ready).collect::<Vec<_>>());
    let mut row = Row::timing(
        4,
        "network ready (bitcoind+2 lightningd+plugin)",
        "floor: the same daemons by hand, one step after another",
        "ready/floor".into(),
        &f,
    );
    row.ratio = format!(
        "harness {} the floor ({:+} ms)",
        ratio(ready, f.median),
        ((ready - f.median) * 1000.0).round()
    );
    rows.push(row);
    let t = Stats::of(&floor.iter().map(|f| f.teardown).collect::<Vec<_>>());
    rows.push(Row::timing(
        4,
        "network teardown",
        "floor (stop RPCs, rm -r)",
        "teardown/floor".into(),
        &t,
    ));
}
