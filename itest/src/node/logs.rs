//! A node's log: waiting for lines, reading it.
//!
//! Where a node's waits start (its cursor), as in pyln-testing: once a
//! start has succeeded, the cursor moves past that start's `Server started
//! with public key` line, so a wait after [`Node::start`],
//! [`Node::restart`] or the network's build sees only what the node logged
//! since it came up, never a line from an earlier run or from start-up
//! (plugin `init`, option parsing, ...). The cursor never moves back by
//! itself. To search start-up lines, take a mark before starting
//! ([`Node::log_mark`]) or search from the very start
//! ([`LogMark::start`]), with [`Node::wait_for_log_since`]; or use
//! [`Node::is_in_log`], which searches everything.
//!
//! Waits keep working once lightningd has exited (stopped, died, never
//! started): they read the log to its end and return a line that is
//! there, and fail at once, saying so, when the line is not, because
//! nothing more can be logged.

use std::path::{Path, PathBuf};

use super::lifecycle::NodeState;
use super::Node;
use crate::error::{Context, Error, Result};
use crate::logs::cursor::{LogCursor, LogState};
use crate::logs::pattern::{LogMark, Pattern};

/// What lightningd logs (`log_info`, every release) once it is up; the
/// cursor moves past it after each start.
const STARTED: &str = "Server started with public key";

/// A node's log cursor and what it needs to place the cursor after each
/// start.
#[derive(Debug)]
pub(crate) struct NodeLog {
    cursor: LogCursor,
    /// Lines in the log when lightningd was last launched.
    launched_at: usize,
}

impl NodeLog {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            cursor: LogCursor::new(path),
            launched_at: 0,
        }
    }

    /// Lines in the log when lightningd was last launched.
    pub(crate) fn launched_at(&self) -> usize {
        self.launched_at
    }

    /// Every line of the log.
    pub(crate) fn lines(&mut self) -> Result<&[String]> {
        self.cursor.lines()
    }

    /// The end of what is logged now (what was read, if reading fails: a
    /// mark that is too early shows more lines, never fewer).
    fn end(&mut self) -> usize {
        match self.cursor.lines() {
            Ok(lines) => lines.len(),
            Err(_) => self.cursor.position().line(),
        }
    }

    fn mark(&mut self) -> LogMark {
        let path = self.cursor.path().to_path_buf();
        LogMark::at(&path, self.end())
    }

    fn path(&self) -> &Path {
        self.cursor.path()
    }
}

impl Node {
    /// Notes where this run's lines begin (just before launching).
    pub(crate) fn note_launch(&self) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.launched_at = log.end();
    }

    /// Moves the cursor past this run's `Server started` line (or to the
    /// end, if it has none), never back; see the module docs.
    pub(crate) fn note_ready(&self) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let from = log.launched_at;
        let Ok(lines) = log.cursor.lines() else {
            return;
        };
        let after = lines
            .iter()
            .skip(from)
            .position(|l| l.contains(STARTED))
            .map_or(lines.len(), |i| from + i + 1);
        if after > log.cursor.position().line() {
            let mark = LogMark::at(log.path(), after);
            log.cursor
                .set_position(&mark)
                .expect("a mark of the node's own log");
        }
    }

    /// Whether more lines can come: not once lightningd has exited.
    fn log_state(&self) -> LogState {
        match self.state() {
            NodeState::Running => LogState::Growing,
            NodeState::Died(status) => LogState::Complete(
                self.died_during("a wait for its log")
                    .unwrap_or_else(|| Error::msg(format!("{} died ({status})", self.name))),
            ),
            NodeState::Exited(status) => {
                LogState::Complete(Error::msg(format!("{} has exited ({status})", self.name)))
            }
            NodeState::NotStarted => {
                LogState::Complete(Error::msg(format!("{} was never started", self.name)))
            }
        }
    }

    /// Waits until a line after the cursor (see the module docs) matches
    /// `pattern` (a regex for `&str`/`String`, or a [`Pattern::literal`])
    /// and returns it; later waits start after it. On a node that is not
    /// running it still finds a line already logged; otherwise it fails at
    /// once. On timeout the error names the pattern and quotes the log
    /// tail.
    pub fn wait_for_log(&self, pattern: impl Into<Pattern>) -> Result<String> {
        Ok(self.wait_for_logs([pattern])?.remove(0))
    }

    /// Waits until each pattern has matched its own line after the cursor,
    /// in any order, one line never serving two patterns. Returns the
    /// lines in the order of `patterns`; later waits start after the last
    /// of them.
    pub fn wait_for_logs<P: Into<Pattern>>(
        &self,
        patterns: impl IntoIterator<Item = P>,
    ) -> Result<Vec<String>> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.cursor
            .wait_for_logs_while(patterns, self.timeout, || Ok(self.log_state()))
            .with_context(|| format!("{}: waiting for its log", self.name))
    }

    /// [`Node::wait_for_log`] searching from `mark` instead of the cursor,
    /// which it leaves where it is: several waits from one mark each see
    /// every line since.
    ///
    /// ```no_run
    /// # fn f(l1: &cln_itest::Node) -> cln_itest::Result<()> {
    /// use cln_itest::{LogMark, Pattern};
    ///
    /// let mark = l1.log_mark();
    /// l1.restart()?;
    /// // A start-up line of the new run (the cursor is past those).
    /// l1.wait_for_log_since(&mark, "plugin-my-plugin: initialized")?;
    /// // Anything since the node's first start, as plain text.
    /// l1.wait_for_log_since(&LogMark::start(), Pattern::literal("{\"ok\": true}"))?;
    /// # Ok(()) }
    /// ```
    pub fn wait_for_log_since(
        &self,
        mark: &LogMark,
        pattern: impl Into<Pattern>,
    ) -> Result<String> {
        Ok(self.wait_for_logs_since(mark, [pattern])?.remove(0))
    }

    /// [`Node::wait_for_logs`] searching from `mark`; moves no cursor.
    pub fn wait_for_logs_since<P: Into<Pattern>>(
        &self,
        mark: &LogMark,
        patterns: impl IntoIterator<Item = P>,
    ) -> Result<Vec<String>> {
        let patterns: Vec<Pattern> = patterns.into_iter().map(Into::into).collect();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let from = mark.line_in(log.path())?;
        let (lines, _end) = log
            .cursor
            .find_from(from, &patterns, self.timeout, || Ok(self.log_state()))
            .with_context(|| format!("{}: waiting for its log since line {from}", self.name))?;
        Ok(lines)
    }

    /// A mark after every line logged so far, for
    /// [`Node::wait_for_log_since`] or [`Node::set_log_cursor`].
    pub fn log_mark(&self) -> LogMark {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).mark()
    }

    /// Where the next [`Node::wait_for_log`] starts searching.
    pub fn log_cursor(&self) -> LogMark {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.cursor.position()
    }

    /// Moves the cursor to `mark`, back or forth (pyln-testing's
    /// `daemon.logsearch_start = ...`); `&LogMark::start()` makes the next
    /// wait search the whole log. Fails for a mark of another node's log.
    pub fn set_log_cursor(&self, mark: &LogMark) -> Result<()> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.cursor
            .set_position(mark)
            .with_context(|| format!("{}: moving its log cursor", self.name))
    }

    /// The first line anywhere in the log matching `pattern`, if any. Does
    /// not move the cursor.
    pub fn is_in_log(&self, pattern: impl Into<Pattern>) -> Result<Option<String>> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.cursor.is_in_log(pattern)
    }

    /// Every complete line of its log so far, across all its runs.
    pub fn log_lines(&self) -> Result<Vec<String>> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Ok(log.lines()?.to_vec())
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
