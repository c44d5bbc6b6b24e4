//! A node's log: waiting for lines, reading it.

use std::path::PathBuf;

use crate::error::Result;

use super::Node;

impl Node {
    /// Waits until a line logged after the previous match (or since the
    /// start) matches `regex`, and returns it. Later waits start after it.
    /// On timeout, or if the node dies, the error names the regex and
    /// quotes the log tail.
    pub fn wait_for_log(&self, regex: &str) -> Result<String> {
        Ok(self.wait_for_logs(&[regex])?.remove(0))
    }

    /// Waits until each regex has matched its own line after the previous
    /// match, in any order, one line never serving two regexes. Returns
    /// the lines in the order of `regexes`; later waits start after the
    /// last of them.
    pub fn wait_for_logs(&self, regexes: &[&str]) -> Result<Vec<String>> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.wait_for_logs_while(regexes, self.timeout, || {
            match self.died_during("a wait for its log") {
                Some(died) => Err(died),
                None => Ok(()),
            }
        })
        .map_err(|e| e.context(format!("{}: waiting for its log", self.name)))
    }

    /// The first line anywhere in the log matching `regex`, if any. Does
    /// not move where `wait_for_log` searches.
    pub fn is_in_log(&self, regex: &str) -> Result<Option<String>> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.is_in_log(regex)
    }

    /// lightningd's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The last `n` lines of its log, stderr and stdout.
    pub fn log_tail(&self, n: usize) -> String {
        crate::logs::tails::labelled_tails(
            &self.name,
            &[
                self.log_path(),
                self.dir.join(format!("{}.stderr", self.name)),
                self.dir.join(format!("{}.stdout", self.name)),
            ],
            n,
        )
    }
}
