//! bitcoind-only harness tests: these run wherever bitcoind is installed
//! (CI has no lightningd), so the process, port and directory handling is
//! exercised on every run.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use itest::process::pid_alive;
use itest::Network;

fn bitcoind_only() -> Network {
    Network::builder()
        .nodes(0)
        .build()
        .expect("starting bitcoind")
}

itest::needs_bitcoind! {
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

itest::needs_bitcoind! {
#[test]
fn parallel_bitcoinds_get_distinct_ports_and_dirs_and_leave_no_process() {
    // Each thread owns its network for its whole life (the daemon dies with
    // the thread that spawned it); the barrier makes both live at once.
    let barrier = Barrier::new(2);
    let seen: Vec<(u16, PathBuf, u32)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    // Wait at the barrier even on failure, so the other
                    // thread is not left waiting forever.
                    let net = Network::builder().nodes(0).build();
                    barrier.wait();
                    let net = net.expect("starting bitcoind");
                    let b = net.bitcoind();
                    assert_eq!(b.height().unwrap(), 101);
                    (b.rpc_port(), net.dir().to_path_buf(), b.pid())
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
        assert!(
            !dir.exists() || itest::keep_dirs(),
            "{} not removed",
            dir.display()
        );
    }
}
}

itest::needs_bitcoind! {
#[test]
fn a_leaked_network_still_dies_with_its_thread() {
    // mem::forget skips Drop entirely; PR_SET_PDEATHSIG must still kill the
    // daemon when the spawning thread ends.
    let (pid, dir) = std::thread::spawn(|| {
        let net = bitcoind_only();
        let seen = (net.bitcoind().pid(), net.dir().to_path_buf());
        std::mem::forget(net);
        seen
    })
    .join()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive = pid_alive(pid);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!alive, "bitcoind {pid} outlived the thread that spawned it");
}
}
