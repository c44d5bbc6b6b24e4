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

use crate::error::{bail, Context, Error, Result};

use super::Node;
use crate::conf::NodeConf;
use crate::lightningd::bin::LightningdBin;

/// The signs a `--dev-disconnect` rule may start with. `=` does nothing
/// but use the rule up (upstream puts `=WIRE_X` before `permfail` to wait
/// for X); `<` and `$` are read by newer releases only (v23.02 has
/// `=-+0x`).
const RULE_SIGNS: &str = "=-+<$0x";

/// The line lightningd itself (not a subdaemon) reads from the rules
/// file: on the next peer connection or transient channel error it fails
/// the channels permanently instead (`dev_disconnect_permanent` in
/// `lightningd/subd.c`).
pub(crate) const PERMFAIL: &str = "permfail";

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
    check_rules(&conf.dev_disconnect).map_err(|why| Error::msg(format!("{name}: {why}")))
}

/// The rules as lightningd and its subdaemons read them
/// (`common/dev_disconnect.c`, `lightningd/subd.c`): one per line, either
/// `<sign>WIRE_<MESSAGE>[*N]` with N at least 1, or `permfail`.
///
/// All processes share one file offset. lightningd compares the next 8
/// bytes with `permfail` and, on a match, consumes those 8 bytes but not
/// the newline, so every subdaemon then reads an empty line and no later
/// rule ever fires: a rule after `permfail` is refused rather than
/// silently ignored.
fn check_rules(rules: &[String]) -> std::result::Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        if rule == PERMFAIL {
            if let Some(dead) = rules.get(i + 1) {
                return Err(format!(
                    "dev_disconnect rule `{dead}` follows `{PERMFAIL}`, after which lightningd \
                     reads no further rule; put `{PERMFAIL}` last"
                ));
            }
            continue;
        }
        let mut chars = rule.chars();
        let sign = chars.next();
        let (name_part, count) = match chars.as_str().split_once('*') {
            Some((n, c)) => (n, Some(c)),
            None => (chars.as_str(), None),
        };
        let count_ok = count.is_none_or(|c| c.parse::<u32>().is_ok_and(|n| n >= 1));
        if !sign.is_some_and(|c| RULE_SIGNS.contains(c))
            || !name_part.starts_with("WIRE_")
            || !count_ok
        {
            return Err(format!(
                "dev_disconnect rule `{rule}` is neither `{PERMFAIL}` nor \
                 <sign>WIRE_<MESSAGE>[*N] with a sign among `{RULE_SIGNS}` and N >= 1 \
                 (e.g. `-WIRE_REVOKE_AND_ACK`, `+WIRE_REVOKE_AND_ACK*3`)"
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn permfail_is_a_rule_of_its_own_and_must_come_last() {
        // Upstream's usual pairs (tests/test_closing.py).
        for ok in [
            &["-WIRE_REVOKE_AND_ACK", "permfail"][..],
            &["+WIRE_REVOKE_AND_ACK*3", "permfail"],
            &["=WIRE_UPDATE_FULFILL_HTLC", "permfail"],
            &["permfail"],
            &[
                "<WIRE_SHUTDOWN",
                "$WIRE_CHANNEL_READY",
                "0WIRE_PING",
                "xWIRE_INIT",
            ],
        ] {
            check_rules(&rules(ok)).unwrap();
        }
        let after = check_rules(&rules(&["permfail", "-WIRE_INIT"])).unwrap_err();
        assert!(after.contains("`-WIRE_INIT` follows `permfail`"), "{after}");
        for bad in [
            "PERMFAIL",
            "permfail*2",
            "-WIRE_INIT*0",
            "-WIRE_INIT*x",
            "WIRE_INIT",
            "-INIT",
        ] {
            let why = check_rules(&rules(&[bad])).unwrap_err();
            assert!(why.contains(&format!("`{bad}` is neither")), "{why}");
        }
    }
}
