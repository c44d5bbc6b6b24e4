//! Reading the trace file the relay writes (format in
//! `shim/plugin_relay.rs`): records of a header line
//! `itest-trace <kind> <unix-nanos> <length>`, `length` bytes, a newline.
//! The file is read while the relay appends to it, so an incomplete last
//! record is not an error: it is left for the next read.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{bail, Context, Result};

/// One record as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub kind: Kind,
    pub time: SystemTime,
    pub payload: Vec<u8>,
}

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The relay started the plugin.
    Start,
    /// lightningd to the plugin.
    ToPlugin,
    /// The plugin to lightningd.
    FromPlugin,
    /// The plugin exited.
    End,
}

/// The complete records of the file at `path`; none if it does not exist
/// yet (the relay creates it when lightningd starts the plugin).
pub(crate) fn read(path: &Path) -> Result<Vec<Record>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    parse(&bytes).with_context(|| format!("reading plugin trace {}", path.display()))
}

/// The complete records in `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(eol) = bytes[at..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let header = String::from_utf8_lossy(&bytes[at..at + eol]).into_owned();
        let fields: Vec<&str> = header.split(' ').collect();
        let [magic, kind, nanos, len] = fields[..] else {
            bail!("bad record header at byte {at}: {header:?}");
        };
        let kind = match kind {
            "start" => Kind::Start,
            "to-plugin" => Kind::ToPlugin,
            "from-plugin" => Kind::FromPlugin,
            "end" => Kind::End,
            _ => bail!("unknown record kind at byte {at}: {header:?}"),
        };
        let (Ok(nanos), Ok(len)) = (nanos.parse::<u64>(), len.parse::<usize>()) else {
            bail!("bad record header at byte {at}: {header:?}");
        };
        if magic != "itest-trace" {
            bail!("bad record header at byte {at}: {header:?}");
        }
        let start = at + eol + 1;
        // Incomplete: the relay is still writing it.
        if bytes.len() < start + len + 1 {
            break;
        }
        records.push(Record {
            kind,
            time: UNIX_EPOCH + Duration::from_nanos(nanos),
            payload: bytes[start..start + len].to_vec(),
        });
        at = start + len + 1;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_complete_records_and_leaves_a_partial_one() {
        let text = b"itest-trace start 5 9\n{\"pid\":1}\nitest-trace to-plugin 7 11\n{\"a\":\"b\nc\"}\nitest-trace from-plugin 9 20\n{\"par";
        let records = parse(text).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].kind, Kind::ToPlugin);
        assert_eq!(records[1].payload, b"{\"a\":\"b\nc\"}");
        assert_eq!(records[1].time, UNIX_EPOCH + Duration::from_nanos(7));
        assert!(parse(b"nonsense here\n").is_err());
    }
}
