//! The relay program build.rs compiles from `shim/plugin_relay.rs`, and
//! the line of a plugin's wrapper script that starts the plugin through
//! it.

use std::path::{Path, PathBuf};

use crate::error::{bail, Result};

include!(concat!(env!("OUT_DIR"), "/plugin_relay.rs"));

/// Where traced plugins' traces are, in the node's directory: one file
/// per plugin name, appended across plugin and node restarts.
pub(crate) const TRACE_DIR: &str = "plugin-trace";

/// The relay's path, or why build.rs could not build it (its compile never
/// fails itest's build, so the reason surfaces here, when needed).
pub(crate) fn relay_binary() -> Result<PathBuf> {
    match PLUGIN_RELAY {
        Ok(path) => Ok(PathBuf::from(path)),
        Err(reason) => {
            bail!("the plugin relay (for traced plugins) was not built when itest was compiled: {reason}")
        }
    }
}

/// The trace file of the plugin named `name` (its file name) on the node
/// in `lightning_dir`.
pub(crate) fn trace_path(lightning_dir: &Path, name: &str) -> PathBuf {
    lightning_dir.join(TRACE_DIR).join(format!("{name}.trace"))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    use super::*;
    use crate::trace::record::{self, Kind};

    /// The relay in front of `cat`: what comes out is exactly what went in,
    /// split or joined however, and the trace has each message once per
    /// direction, then the end.
    #[test]
    fn the_relay_changes_no_byte_and_traces_each_message() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("cat.trace");
        let mut child = Command::new(relay_binary().unwrap())
            .arg(&trace)
            .arg("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input: &[u8] = b"{\"id\":1,\"method\":\"a\",\"params\":{\"s\":\"}{\\\"\"}}\n\n[1,2]{\"id\":\"x\xc3\xa9\"}\n";
        let mut stdin = child.stdin.take().unwrap();
        for piece in input.chunks(7) {
            stdin.write_all(piece).unwrap();
        }
        drop(stdin);
        let mut output = Vec::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut output)
            .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(output, input);
        let records = record::read(&trace).unwrap();
        let kinds: Vec<Kind> = records.iter().map(|r| r.kind).collect();
        assert_eq!(kinds.first(), Some(&Kind::Start));
        assert_eq!(kinds.last(), Some(&Kind::End));
        let sent: Vec<&[u8]> = records
            .iter()
            .filter(|r| r.kind == Kind::ToPlugin)
            .map(|r| r.payload.as_slice())
            .collect();
        assert_eq!(
            sent,
            [
                &b"{\"id\":1,\"method\":\"a\",\"params\":{\"s\":\"}{\\\"\"}}"[..],
                b"[1,2]",
                b"{\"id\":\"x\xc3\xa9\"}"
            ]
        );
        assert_eq!(
            records
                .iter()
                .filter(|r| r.kind == Kind::FromPlugin)
                .count(),
            3
        );
    }
}
