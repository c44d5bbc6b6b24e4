//! What lightningd printed on stderr: kept in `<lightning-dir>/<name>.stderr`
//! across starts (natively and in containers alike), shown in start
//! failures and log tails, and searchable here. lightningd writes there
//! what it cannot log: an unknown option, a plugin it cannot start at
//! start-up, a crash before its log file is open.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use super::{lock, Node};
use crate::error::{Context, Result};

impl Node {
    /// The file that holds lightningd's stderr, every start appended.
    pub fn stderr_path(&self) -> PathBuf {
        self.dir.join(format!("{}.stderr", self.name))
    }

    /// What lightningd wrote on stderr since it was last started (also
    /// after it exited, e.g. after a failed start). Empty if nothing.
    pub fn stderr(&self) -> Result<String> {
        let from = lock(&self.running).stderr_from;
        self.stderr_from(from)
    }

    /// What lightningd wrote on stderr from byte `from` of the file on;
    /// empty if that cannot be read.
    pub(super) fn stderr_since(&self, from: u64) -> String {
        self.stderr_from(from).unwrap_or_default()
    }

    fn stderr_from(&self, from: u64) -> Result<String> {
        let path = self.stderr_path();
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(from))
            .and_then(|_| file.read_to_end(&mut bytes))
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The lines of [`Node::stderr`] that match `regex`.
    pub fn stderr_matches(&self, regex: &str) -> Result<Vec<String>> {
        let re = regex::Regex::new(regex)
            .with_context(|| format!("{}: stderr pattern `{regex}`", self.name))?;
        Ok(self
            .stderr()?
            .lines()
            .filter(|l| re.is_match(l))
            .map(str::to_string)
            .collect())
    }

    /// The stderr file's size now: where the next start's output begins.
    pub(super) fn stderr_len(&self) -> u64 {
        std::fs::metadata(self.stderr_path()).map_or(0, |m| m.len())
    }
}
