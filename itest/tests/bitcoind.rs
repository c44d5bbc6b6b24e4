//! bitcoind-only harness tests: these run wherever bitcoind is installed
//! (CI has no lightningd), so the process, port, directory and lifetime
//! handling is exercised on every run.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use cln_itest::{pid_alive, Backend, Conf, Network, OrphanGuard};

fn bitcoind_only() -> Network {
    Network::with_conf(&Conf::with_nodes(0)).expect("starting bitcoind")
}

fn wait_dead(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    !pid_alive(pid)
}

cln_itest::needs_bitcoind! {
#[test]
fn bitcoind_starts_mines_and_has_a_spendable_balance() {
    let net = bitcoind_only();
    let btc = net.bitcoind();
    assert_eq!(btc.height().unwrap(), 101);
    // Only the first of 101 coinbases is mature: 50 BTC.
    assert_eq!(btc.balance_sats().unwrap(), 50 * 100_000_000);
    btc.mine(5).unwrap();
    assert_eq!(btc.height().unwrap(), 106);
    assert_eq!(btc.balance_sats().unwrap(), 6 * 50 * 100_000_000);
}
}

cln_itest::needs_bitcoind! {
#[test]
fn network_wide_settings_are_taken_from_the_conf() {
    let root = tempfile::tempdir().unwrap();
    let mut conf = Conf::with_nodes(0);
    conf.initial_blocks = 7;
    conf.tmp_root = Some(root.path().to_path_buf());
    conf.rpc_user = "alice".into();
    conf.rpc_password = "s3cret".into();
    conf.bitcoind_args = vec!["-uacomment=itestconf".into()];
    let net = Network::with_conf(&conf).expect("starting bitcoind");
    let btc = net.bitcoind();
    assert_eq!(btc.height().unwrap(), 7);
    assert!(net.dir().starts_with(root.path()), "{}", net.dir().display());
    assert_eq!((btc.rpc_user(), btc.rpc_password()), ("alice", "s3cret"));
    let info = btc.rpc("getnetworkinfo", serde_json::json!([])).unwrap();
    assert!(info["subversion"].as_str().unwrap().contains("itestconf"), "{info}");
}
}

cln_itest::needs_bitcoind! {
#[test]
fn parallel_bitcoinds_get_distinct_ports_and_dirs_and_leave_no_process() {
    // The barrier makes both networks live at once.
    let barrier = Barrier::new(2);
    let seen: Vec<(u16, PathBuf, u32)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    // Wait at the barrier even on failure, so the other
                    // thread is not left waiting forever.
                    let net = Network::with_conf(&Conf::with_nodes(0));
                    barrier.wait();
                    let net = net.expect("starting bitcoind");
                    let b = net.bitcoind();
                    assert_eq!(b.height().unwrap(), 101);
                    (b.rpc_port(), net.dir().to_path_buf(), b.pid().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ports: HashSet<u16> = seen.iter().map(|s| s.0).collect();
    let dirs: HashSet<&PathBuf> = seen.iter().map(|s| &s.1).collect();
    assert_eq!(ports.len(), 2, "rpc ports must differ: {seen:?}");
    assert_eq!(dirs.len(), 2, "dirs must differ: {seen:?}");
    for (_, dir, pid) in &seen {
        assert!(!pid_alive(*pid), "bitcoind {pid} survived drop");
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
}
}

cln_itest::needs_bitcoind! {
#[test]
fn daemons_outlive_the_thread_that_built_the_network() {
    // A tokio blocking-pool thread is retired after ~10 s idle; a daemon
    // tied to that thread (PR_SET_PDEATHSIG) used to die with it.
    let net = std::thread::spawn(bitcoind_only).join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(net.bitcoind().height().unwrap(), 101, "bitcoind must still answer");
}
}

/// Set in the child copy of this test binary that the tests below kill.
const CHILD_ENV: &str = "ITEST_SIGKILL_CHILD_PIDFILE";

/// Re-runs this test binary as a child that runs only `test` (with
/// [`CHILD_ENV`] set, and `guard` as its `Conf::orphan_guard` through
/// `ITEST_ORPHAN_GUARD`); the child builds a network from a short-lived
/// thread, reports bitcoind's pid and hangs. SIGKILLs the child (no Drop,
/// no panic hook) and requires bitcoind to die too. Returns bitcoind's pid
/// and its process group, read while it ran, when bitcoind is a native
/// daemon (the guard's case); `None` in a container, whose sidecar removes
/// it instead.
fn sigkilled_test_process_leaves_no_bitcoind(test: &str, guard: OrphanGuard) -> Option<(u32, u32)> {
    if let Some(pidfile) = std::env::var_os(CHILD_ENV) {
        // Child role: build a network from a short-lived thread, report
        // bitcoind's pid, then wait to be killed.
        let mut conf = Conf::with_nodes(0);
        assert_eq!(
            conf.orphan_guard, guard,
            "ITEST_ORPHAN_GUARD did not reach the Conf"
        );
        conf.tmp_root = PathBuf::from(&pidfile).parent().map(PathBuf::from);
        let net = std::thread::spawn(move || Network::with_conf(&conf).unwrap())
            .join()
            .unwrap();
        let pid = net.bitcoind().pid().unwrap();
        std::fs::write(pidfile, pid.to_string()).unwrap();
        std::thread::sleep(Duration::from_secs(600));
        unreachable!("the parent kills this process");
    }
    let scratch = tempfile::tempdir().unwrap();
    let pidfile = scratch.path().join("bitcoind.pid");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(CHILD_ENV, &pidfile)
        .env("ITEST_ORPHAN_GUARD", guard.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("re-running this test binary as the child");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.parse().ok())
        {
            break pid;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("the child never reported a bitcoind pid");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(pid_alive(pid));
    // SAFETY: plain syscall.
    let group = unsafe { libc::getpgid(pid as libc::pid_t) } as u32;
    child.kill().unwrap(); // SIGKILL: no Drop, no panic hook
    child.wait().unwrap();
    assert!(
        wait_dead(pid),
        "bitcoind {pid} outlived the SIGKILLed test process ({guard})"
    );
    // The child's network dir (no Drop ran) is inside `scratch`.
    // The child's Conf is this one's: the same environment.
    (Conf::with_nodes(0).bitcoind_backend == Backend::Native).then_some((pid, group))
}

cln_itest::needs_bitcoind! {
#[test]
fn daemons_die_when_the_test_process_is_sigkilled() {
    // This platform's default guard (Linux: the parent death signal, under
    // which bitcoind leads its own process group).
    let guard = OrphanGuard::platform_default();
    let test = "daemons_die_when_the_test_process_is_sigkilled";
    if let Some((pid, group)) = sigkilled_test_process_leaves_no_bitcoind(test, guard) {
        let leads = group == pid;
        assert_eq!(leads, guard == OrphanGuard::ParentDeathSignal, "{guard}: pid {pid}, group {group}");
    }
}
}

cln_itest::needs_bitcoind! {
#[test]
fn the_supervisor_guard_kills_the_daemons_of_a_sigkilled_test_process() {
    // The guard that needs no PR_SET_PDEATHSIG (the default off Linux),
    // selected here. Its shell, not bitcoind, leads bitcoind's process
    // group: proof that the parent death signal played no part. (With
    // bitcoind in a container the guard has no part either way.)
    let test = "the_supervisor_guard_kills_the_daemons_of_a_sigkilled_test_process";
    let guard = OrphanGuard::Supervisor;
    if let Some((pid, group)) = sigkilled_test_process_leaves_no_bitcoind(test, guard) {
        assert_ne!(group, pid, "bitcoind leads its own group: no supervisor ran");
        assert!(wait_dead(group), "the supervisor {group} is still running");
    }
}
}

cln_itest::needs_bitcoind! {
#[test]
fn a_transaction_with_locktime_21_is_mined() {
    // lightningd sometimes dates a funding transaction back to a random
    // earlier block; Bitcoin Knots takes `nLockTime == 21` for a
    // "parasite" and would never mine it unless told otherwise.
    let net = bitcoind_only();
    let btc = net.bitcoind();
    let address = btc.new_address().unwrap();
    let raw = btc
        .rpc(
            "createrawtransaction",
            serde_json::json!([[], [{ address: 0.001 }], 21]),
        )
        .unwrap();
    let funded = btc
        .rpc("fundrawtransaction", serde_json::json!([raw]))
        .unwrap();
    let signed = btc
        .rpc("signrawtransactionwithwallet", serde_json::json!([funded["hex"]]))
        .unwrap();
    let txid = btc
        .rpc("sendrawtransaction", serde_json::json!([signed["hex"]]))
        .unwrap_or_else(|e| panic!("locktime-21 transaction refused: {e:#}"));
    btc.mine(1).unwrap();
    let tx = btc
        .rpc("gettransaction", serde_json::json!([txid]))
        .unwrap();
    assert_eq!(tx["confirmations"], 1, "{tx}");
    let decoded = btc
        .rpc("decoderawtransaction", serde_json::json!([tx["hex"]]))
        .unwrap();
    assert_eq!(decoded["locktime"], 21, "{decoded}");
}
}
