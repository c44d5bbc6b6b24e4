//! The lightningd options the harness gives every node, in one place.
//!
//! `scripts/start_ln.sh` writes the same options into its node configs;
//! `tests/start_ln_script.rs` fails when the two sets differ, so this file
//! is the one source of truth. Options depend on what the binary at hand
//! supports (its `--version` and `--help`), never on the newest release's
//! defaults: `--developer` breaks nodes before v23.11, and options like
//! `--autoconnect-seeker-peers` exist only in newer releases.

use std::ffi::OsString;
use std::path::Path;

use crate::error::Result;

use crate::daemon::placement::Placement;
use crate::lightningd::bin::LightningdBin;
use crate::version::Version;

/// The options every harness node of the lightningd at `lightningd` gets,
/// besides those naming its own directory, port, log level and bitcoind:
/// for example `--network=regtest`, `--rescan=1`, and `--developer
/// --dev-bitcoind-poll=1` where the release has them.
pub fn regtest_options(lightningd: &Path) -> Result<Vec<String>> {
    Ok(shared_options(&LightningdBin::inspect(
        &Placement::native(),
        lightningd,
    )?))
}

pub(crate) fn shared_options(bin: &LightningdBin) -> Vec<String> {
    let mut args: Vec<String> = [
        "--network=regtest",
        "--allow-deprecated-apis=false",
        "--disable-dns",
        // A new node starts 30 blocks below the tip by default and fetches
        // them one by one; its wallet is empty, so there is nothing to find
        // there. pyln-testing uses 1 as well.
        "--rescan=1",
    ]
    .map(String::from)
    .to_vec();
    if bin.version >= Version::new(23, 11, 0) {
        // Runtime developer mode exists only from v23.11; before that the
        // dev options need a developer build, which releases are not.
        args.extend(
            ["--developer", "--dev-fast-gossip", "--dev-bitcoind-poll=1"].map(String::from),
        );
    } else if bin.has_option("dev-bitcoind-poll") {
        // A pre-v23.11 developer build.
        args.extend(["--dev-fast-gossip", "--dev-bitcoind-poll=1"].map(String::from));
    }
    if bin.has_option("autoconnect-seeker-peers") {
        args.push("--autoconnect-seeker-peers=0".into());
    }
    if bin.has_option("database-upgrade") {
        // A node dir made by an older release (an upgrade test restarting
        // a node with a newer binary) needs this on release builds.
        args.push("--database-upgrade=true".into());
    }
    args
}

/// How much faster an old release's clock runs under libfaketime: its 30 s
/// block poll becomes 1.5 s, close to `--dev-bitcoind-poll=1`. Its other
/// timers shrink alike (the 60 s plugin manifest limit becomes 3 s, the
/// 30 s a stopping plugin gets becomes 1.5 s), which is why this is not
/// faster.
pub(crate) const OLD_RELEASE_CLOCK_RATE: u32 = 20;

/// Whether `bin` polls bitcoind only every 30 s (a release build before
/// v23.11, which has no `--dev-bitcoind-poll`).
pub(crate) fn polls_slowly(bin: &LightningdBin) -> bool {
    bin.version < Version::new(23, 11, 0) && !bin.has_option("dev-bitcoind-poll")
}

/// How many of its own seconds a lightningd run with `libfaketime` counts
/// per real second: [`OLD_RELEASE_CLOCK_RATE`] for a slowly polling one
/// under libfaketime, else 1. A timeout the harness hands lightningd
/// (`pay`'s `retry_for`, `waitsendpay`'s `timeout`) is scaled by it, so
/// that it lasts as long in real time as the harness waits.
pub(crate) fn clock_rate(bin: &LightningdBin, libfaketime: Option<&Path>) -> u32 {
    if libfaketime.is_some() && polls_slowly(bin) {
        OLD_RELEASE_CLOCK_RATE
    } else {
        1
    }
}

/// The environment that speeds up a slowly polling lightningd's clock with
/// the libfaketime at `libfaketime` (see `Conf::libfaketime`); empty for
/// other binaries. Every process lightningd starts inherits it and runs
/// fast too: libfaketime's `FAKETIME_ONLY_CMDS` would spare them, but in
/// 0.9.10 it breaks `clock_gettime` in every thread but the first of a
/// spared process, so a tokio plugin panicked before `getmanifest`. One
/// clock for the whole node is consistent, and speeds gossip up as well.
pub(crate) fn clock_env(
    bin: &LightningdBin,
    libfaketime: Option<&Path>,
) -> Vec<(OsString, OsString)> {
    let Some(lib) = libfaketime.filter(|_| polls_slowly(bin)) else {
        return Vec::new();
    };
    let mut preload = OsString::from(lib);
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    vec![
        ("LD_PRELOAD".into(), preload),
        (
            "FAKETIME".into(),
            format!("+0 x{OLD_RELEASE_CLOCK_RATE}").into(),
        ),
    ]
}
