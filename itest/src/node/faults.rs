//! The fault options pyln-testing gives a node: `--dev-no-reconnect`
//! unless it may reconnect, and `--dev-disconnect` with the rules of
//! [`NodeConf::dev_disconnect`].
//!
//! Both are developer options: lightningd v23.11 and later have them with
//! `--developer` (which every node gets there), older releases only in
//! developer builds. A node that asks for `dev_disconnect` on a lightningd
//! without it cannot test what it means to, so building it fails; a node
//! that merely may not reconnect runs without the option and without the
//! reconnection check, as under pyln-testing.

use std::path::{Path, PathBuf};

use crate::error::{bail, Context, Result};

use super::Node;
use crate::conf::NodeConf;
use crate::lightningd::bin::LightningdBin;

/// The signs a `--dev-disconnect` rule may start with.
const RULE_SIGNS: &str = "-+<$0x";

/// Whether `bin` will get `--dev-no-reconnect` for `conf`, which is also
/// whether reconnections are a teardown finding.
pub(crate) fn suppresses_reconnects(conf: &NodeConf, bin: &LightningdBin) -> bool {
    !conf.may_reconnect && bin.has_option("dev-no-reconnect")
}

/// Refuses fault rules that `bin` cannot apply or that are malformed.
pub(crate) fn check(name: &str, conf: &NodeConf, bin: &LightningdBin) -> Result<()> {
    if conf.dev_disconnect.is_empty() {
        return Ok(());
    }
    if !bin.has_option("dev-disconnect") {
        bail!(
            "{name}: NodeConf::dev_disconnect needs a lightningd with developer options \
             (v23.11 or later, or a developer build); {} ({}) has no --dev-disconnect",
            bin.path.display(),
            bin.version
        );
    }
    for rule in &conf.dev_disconnect {
        let mut chars = rule.chars();
        let sign = chars.next();
        let name_part = chars.as_str().split('*').next().unwrap_or("");
        if !sign.is_some_and(|c| RULE_SIGNS.contains(c)) || !name_part.starts_with("WIRE_") {
            bail!(
                "{name}: dev_disconnect rule `{rule}` is not <sign>WIRE_<MESSAGE>[*N] \
                 with a sign among `{RULE_SIGNS}` (e.g. `-WIRE_REVOKE_AND_ACK`)"
            );
        }
    }
    Ok(())
}

/// The fault options for the command line of a node in `dir` with `conf`.
pub(crate) fn options(conf: &NodeConf, bin: &LightningdBin, dir: &Path) -> Vec<String> {
    let mut args = Vec::new();
    if suppresses_reconnects(conf, bin) {
        args.push("--dev-no-reconnect".to_string());
    }
    if !conf.dev_disconnect.is_empty() {
        args.push(format!(
            "--dev-disconnect={}",
            dev_disconnect_file(dir).display()
        ));
    }
    args
}

/// The files the fault options of a node in `dir` with `conf` name (a
/// container that shares no paths gets copies of them).
pub(crate) fn files(conf: &NodeConf, dir: &Path) -> Vec<PathBuf> {
    if conf.dev_disconnect.is_empty() {
        return Vec::new();
    }
    vec![dev_disconnect_file(dir)]
}

/// `<lightning-dir>/regtest/dev-disconnect`.
fn dev_disconnect_file(dir: &Path) -> PathBuf {
    dir.join("regtest").join("dev-disconnect")
}

impl Node {
    /// Writes the rules afresh before a start: lightningd consumes them as
    /// they fire, so each run starts from the first.
    pub(crate) fn write_fault_files(&self, conf: &NodeConf) -> Result<()> {
        if conf.dev_disconnect.is_empty() {
            return Ok(());
        }
        let path = dev_disconnect_file(&self.dir);
        let dir = path.parent().expect("a file in regtest/");
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut text = conf.dev_disconnect.join("\n");
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }
}
