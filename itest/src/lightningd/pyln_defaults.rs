//! pyln-testing's node defaults, as one set ([`NodeConf::pyln_defaults`]).
//!
//! What pyln-testing (CLN's `contrib/pyln-testing/pyln/testing/utils.py`,
//! `LIGHTNINGD_CONFIG`, `LightningD` and `LightningNode`) gives every
//! node beyond what every harness node already gets (`--rescan=1`,
//! `--disable-dns`, `--dev-fast-gossip`, `--dev-bitcoind-poll=1`,
//! `--dev-no-reconnect`, `--autoconnect-seeker-peers=0`, fixed feerates):
//! - `--log-level=trace` (`debug` up to v24.02.2, which has no `trace`);
//! - `--cltv-delta=6`, `--cltv-final=5`, `--watchtime-blocks=5`: a peer's
//!   `to_self_delay` of 5 blocks and short route delays, which upstream
//!   tests assert;
//! - `--ignore-fee-limits=false`;
//! - `--dev-fail-on-subdaemon-fail` where developer options exist (a
//!   hidden option, absent from `--help`: v23.11 and later, or a
//!   developer build, known by its `--dev-disconnect`);
//! - `CLN_PLUGIN_LOG=cln_plugin=trace,cln_rpc=trace,cln_grpc=trace,debug`
//!   for plugins written with the `cln-plugin` crate.
//!
//! Each option is given only where the binary lists it, and none the
//! node's own options already name, so a test can still override one.
//! Not included: pyln's leak check on every node
//! ([`NodeConf::check_memleak`] opts in, as it slows lightningd down),
//! its deterministic `hsm_secret`s, and `--dev-save-plugin-io`.

use crate::conf::NodeConf;
use crate::lightningd::bin::LightningdBin;
use crate::version::Version;

/// pyln-testing's `CLN_PLUGIN_LOG`.
pub(crate) const PLUGIN_LOG: (&str, &str) = (
    "CLN_PLUGIN_LOG",
    "cln_plugin=trace,cln_rpc=trace,cln_grpc=trace,debug",
);

/// The options pyln-testing sets that take a value, without dashes.
const VALUED: [(&str, &str); 4] = [
    ("cltv-delta", "6"),
    ("cltv-final", "5"),
    ("watchtime-blocks", "5"),
    ("ignore-fee-limits", "false"),
];

/// pyln's log level for `bin`: `trace` where it exists.
pub(crate) fn log_level(bin: &LightningdBin) -> &'static str {
    // pyln-testing: `if self.cln_version <= "v24.02.2": log-level=debug`.
    if bin.version <= Version::new(24, 2, 2) {
        "debug"
    } else {
        "trace"
    }
}

/// The options of the set that `bin` has and `conf`'s own options leave
/// free; none unless `conf` asks for the set.
pub(crate) fn options(conf: &NodeConf, bin: &LightningdBin) -> Vec<String> {
    if !conf.pyln_defaults {
        return Vec::new();
    }
    let given = |name: &str| {
        conf.options().any(|o| {
            let o = o.trim_start_matches('-');
            o == name || o.starts_with(&format!("{name}="))
        })
    };
    let mut args: Vec<String> = VALUED
        .iter()
        .filter(|(name, _)| bin.has_option(name) && !given(name))
        .map(|(name, value)| format!("--{name}={value}"))
        .collect();
    let developer = bin.version >= Version::new(23, 11, 0) || bin.has_option("dev-disconnect");
    if developer && !given("dev-fail-on-subdaemon-fail") {
        args.push("--dev-fail-on-subdaemon-fail".into());
    }
    args
}

/// The environment of the set, for variables `conf` does not set itself.
pub(crate) fn env(conf: &NodeConf) -> Vec<(String, String)> {
    let (name, value) = PLUGIN_LOG;
    if !conf.pyln_defaults || conf.env.iter().any(|(n, _)| n == name) {
        return Vec::new();
    }
    vec![(name.to_string(), value.to_string())]
}
