//! pyln-testing's leak check, on request ([`NodeConf::check_memleak`]):
//! lightningd tracks its allocations when `LIGHTNINGD_DEV_MEMLEAK` is set,
//! and the developer command `dev-memleak`, called before the node is
//! stopped at teardown, lists what nothing points to any more.
//!
//! Off by default, unlike pyln-testing (which tests lightningd itself):
//! the tracking made a `line_graph(3)` test about 1.7 times slower here,
//! and a plugin cannot leak lightningd's memory except through lightningd's
//! own bugs. It needs developer mode (v23.11 and later, or a developer
//! build); elsewhere the check is skipped with a note on stderr.

use std::ffi::OsString;
use std::io::Write;

use serde_json::{json, Value};

use super::Node;
use crate::conf::NodeConf;
use crate::lightningd::bin::LightningdBin;
use crate::version::Version;

/// Whether `bin` has developer commands (`dev-memleak`) with the options
/// every node gets.
fn has_developer_mode(bin: &LightningdBin) -> bool {
    bin.version >= Version::new(23, 11, 0) || bin.has_option("dev-no-reconnect")
}

/// Whether the leak check runs for `conf` on `bin`.
fn runs(conf: &NodeConf, bin: &LightningdBin) -> bool {
    conf.check_memleak && has_developer_mode(bin)
}

/// Says on stderr that the leak check asked for cannot run on `bin`.
pub(crate) fn note_if_skipped(name: &str, conf: &NodeConf, bin: &LightningdBin) {
    if conf.check_memleak && !has_developer_mode(bin) {
        // Written to the real stderr: libtest's capture would hide eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "itest: {name}: NodeConf::check_memleak SKIPPED: {} ({}) has no developer mode \
             (v23.11 or later, or a developer build), so no dev-memleak",
            bin.path.display(),
            bin.version
        );
    }
}

/// The environment that turns on lightningd's leak tracking, if the check
/// runs.
pub(crate) fn env(conf: &NodeConf, bin: &LightningdBin) -> Vec<(OsString, OsString)> {
    if runs(conf, bin) {
        vec![("LIGHTNINGD_DEV_MEMLEAK".into(), "1".into())]
    } else {
        Vec::new()
    }
}

impl Node {
    /// What `dev-memleak` reports now, if the check runs, the node is up
    /// and it found leaks (as lightningd sent them). A failing call finds
    /// nothing: a node that died is reported for that.
    pub(crate) fn memleak_report(&self) -> Option<String> {
        let runs = runs(&self.conf(), &super::lock(&self.bin));
        if !runs || !self.is_running() {
            return None;
        }
        let reply = self.call("dev-memleak", json!({})).ok()?;
        match reply.get("leaks") {
            Some(Value::Array(leaks)) if leaks.is_empty() => None,
            Some(leaks) => Some(leaks.to_string()),
            None => None,
        }
    }
}
