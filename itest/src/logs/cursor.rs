//! Waiting for lines in a daemon's log file, pyln-testing style.
//!
//! A [`LogCursor`] reads a log file that another process is still writing
//! and remembers how far the last successful wait got. Each wait searches
//! forward from there, so `wait_for_log("peer connected")` twice needs two
//! such lines, and a line logged before an action is not mistaken for its
//! effect. [`LogCursor::wait_for_logs`] takes several patterns, accepts
//! their lines in any order and never lets one line answer two patterns.
//! [`LogCursor::is_in_log`] looks at the whole log and moves nothing.
//! Positions are [`LogMark`]s: [`LogCursor::mark`] is the end of the log
//! now, [`LogCursor::set_position`] moves the cursor to any mark.
//!
//! Only complete lines count: a line lightningd is half-way through
//! writing is matched once its newline arrives.
//!
//! A wait can be told when its writer has ended
//! ([`LogCursor::wait_for_logs_while`] and [`LogState`]): it then still
//! finds lines that are already in the file, and fails at once, instead of
//! at the timeout, for lines that can no longer come.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use crate::error::{Context, Error, Result};
use crate::logs::pattern::{LogMark, Pattern};
use crate::wait::wait_until;

/// How many lines of the log a timeout error quotes.
const TAIL_LINES: usize = 30;

/// Whether more lines can still arrive in a log, for
/// [`LogCursor::wait_for_logs_while`].
#[derive(Debug)]
pub enum LogState {
    /// Its writer may still add lines: keep waiting until the timeout.
    Growing,
    /// Its writer has ended, for the reason the error gives (for a node,
    /// its [`Died`](crate::ErrorKind::Died) error, or a message saying it
    /// was stopped): what is in the file now is all there will be, so a
    /// wait reads it and, if the lines are not there, fails at once with
    /// that error, noting what it searched.
    Complete(Error),
}

/// A read position in a growing log file; see the module docs.
#[derive(Debug)]
pub struct LogCursor {
    path: PathBuf,
    /// Every complete line read so far (for `is_in_log` and error tails).
    lines: Vec<String>,
    /// Bytes of the file already split into `lines`.
    read_to: u64,
    /// Index in `lines` where the next wait starts searching.
    next: usize,
}

impl LogCursor {
    /// A cursor at the start of the log at `path`, which need not exist yet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lines: Vec::new(),
            read_to: 0,
            next: 0,
        }
    }

    /// The log file this cursor reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the next wait starts searching.
    pub fn position(&self) -> LogMark {
        LogMark::at(&self.path, self.next)
    }

    /// Makes the next wait start at `mark` (earlier or later than now);
    /// [`LogMark::start`] searches the whole log again. Fails for a mark
    /// taken from another log.
    pub fn set_position(&mut self, mark: &LogMark) -> Result<()> {
        self.next = mark.line_in(&self.path)?;
        Ok(())
    }

    /// A mark after every line logged so far; a wait from it sees only
    /// what is logged later.
    pub fn mark(&mut self) -> Result<LogMark> {
        self.read_new_lines()?;
        Ok(LogMark::at(&self.path, self.lines.len()))
    }

    /// Moves the cursor past every line logged so far, so the next wait
    /// only sees what happens from now on.
    pub fn skip_to_end(&mut self) -> Result<()> {
        self.read_new_lines()?;
        self.next = self.lines.len();
        Ok(())
    }

    /// Waits until a line after the cursor matches `pattern` (a regex
    /// unless it is a [`Pattern::literal`], searched anywhere in the line),
    /// moves the cursor past that line and returns it.
    pub fn wait_for_log(
        &mut self,
        pattern: impl Into<Pattern>,
        timeout: Duration,
    ) -> Result<String> {
        let mut lines = self.wait_for_logs([pattern], timeout)?;
        Ok(lines.remove(0))
    }

    /// Waits until every pattern has matched its own line after the cursor,
    /// in any order, never one line for two patterns. Returns the matched
    /// lines in the order of `patterns` and moves the cursor past the last
    /// of them. On timeout the cursor stays where it was and the error
    /// names the patterns still unmatched and quotes the log's tail.
    pub fn wait_for_logs<P: Into<Pattern>>(
        &mut self,
        patterns: impl IntoIterator<Item = P>,
        timeout: Duration,
    ) -> Result<Vec<String>> {
        self.wait_for_logs_while(patterns, timeout, || Ok(LogState::Growing))
    }

    /// [`LogCursor::wait_for_logs`] that asks `state` on every poll
    /// whether lines can still arrive. Once it answers
    /// [`LogState::Complete`] (say, the daemon writing the log has
    /// exited), the wait reads the file to its end and either finds the
    /// lines there or fails at once, saying why nothing more can come. An
    /// error from `state` ends the wait with that error.
    pub fn wait_for_logs_while<P: Into<Pattern>>(
        &mut self,
        patterns: impl IntoIterator<Item = P>,
        timeout: Duration,
        state: impl FnMut() -> Result<LogState>,
    ) -> Result<Vec<String>> {
        let patterns: Vec<Pattern> = patterns.into_iter().map(Into::into).collect();
        let (lines, end) = self.find_from(self.next, &patterns, timeout, state)?;
        self.next = end;
        Ok(lines)
    }

    /// The lines matching `patterns` from line `from` on (see
    /// [`LogCursor::wait_for_logs_while`]), and the index one past the last
    /// of them. Moves nothing.
    pub(crate) fn find_from(
        &mut self,
        from: usize,
        patterns: &[Pattern],
        timeout: Duration,
        mut state: impl FnMut() -> Result<LogState>,
    ) -> Result<(Vec<String>, usize)> {
        let regexes = compile(patterns)?;
        let what = format!(
            "{} to log lines matching {}",
            self.path.display(),
            quoted(patterns.iter())
        );
        let mut matcher = Matcher::new(&regexes);
        // Lines before `from` never change: looked at once, on the first
        // miss, for the timeout's message.
        let mut before: Option<String> = None;
        let waited = wait_until(&what, timeout, |last| {
            // Asked before reading: whatever was written before the writer
            // ended is in the file by the time it is read.
            let now = state()?;
            self.read_new_lines()?;
            let from = from.min(self.lines.len());
            match matcher.feed(&self.lines[from..]) {
                Assignment::Complete { lines, end } => {
                    let matched = lines.iter().map(|&i| self.lines[from + i].clone());
                    Ok(Some((matched.collect(), from + end)))
                }
                Assignment::Partial { unmatched } => {
                    let missing = quoted(unmatched.iter().map(|&p| &patterns[p]));
                    let before = before.get_or_insert_with(|| {
                        self.matches_before(from, &regexes, patterns, &unmatched)
                    });
                    let searched = format!(
                        "searched from line {} of {}{before}",
                        from + 1,
                        self.lines.len()
                    );
                    if let LogState::Complete(why) = now {
                        return Err(why.note(format!(
                            "so nothing more can be logged: {searched}, no line for {missing} \
                             in the whole log, waiting for {what}"
                        )));
                    }
                    *last = format!("{searched}; no line yet for {missing}");
                    Ok(None)
                }
            }
        });
        waited.map_err(|e| match e.died() {
            Some(_) => e,
            None => e.note(self.tail(TAIL_LINES)),
        })
    }

    /// For a wait's message: the last line before `from` matching each of
    /// the `unmatched` patterns, which the wait cannot see, and how to
    /// search from earlier. Empty if there is none.
    fn matches_before(
        &self,
        from: usize,
        regexes: &[Regex],
        patterns: &[Pattern],
        unmatched: &[usize],
    ) -> String {
        let found: Vec<String> = unmatched
            .iter()
            .filter_map(|&p| {
                let line = self.lines[..from]
                    .iter()
                    .rposition(|l| regexes[p].is_match(l))?;
                Some(format!("{} matches line {}", patterns[p], line + 1))
            })
            .collect();
        if found.is_empty() {
            return String::new();
        }
        format!(
            " ({}, before the cursor: a wait only sees lines after the last line an earlier wait matched; \
             take a mark with log_mark() before the action and wait with wait_for_log_since(&mark, ..), \
             or search the whole log with LogMark::start() or is_in_log)",
            found.join(", ")
        )
    }

    /// The first line anywhere in the log (not only after the cursor) that
    /// matches `pattern`, if any. Moves nothing.
    pub fn is_in_log(&mut self, pattern: impl Into<Pattern>) -> Result<Option<String>> {
        let regex = pattern.into().compile()?;
        self.read_new_lines()?;
        Ok(self.lines.iter().find(|l| regex.is_match(l)).cloned())
    }

    /// Every complete line read so far, after reading what is new.
    pub fn lines(&mut self) -> Result<&[String]> {
        self.read_new_lines()?;
        Ok(&self.lines)
    }

    /// The last `n` lines read, under a header naming the file.
    fn tail(&self, n: usize) -> String {
        let start = self.lines.len().saturating_sub(n);
        format!(
            "--- last {} lines of {} ---\n{}",
            self.lines.len() - start,
            self.path.display(),
            self.lines[start..].join("\n")
        )
    }

    /// Appends the file's new complete lines to `lines`. A missing file
    /// reads as empty: the daemon may not have created it yet.
    fn read_new_lines(&mut self) -> Result<()> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("opening {}", self.path.display())),
        };
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(self.read_to))
            .and_then(|_| file.read_to_end(&mut buf))
            .with_context(|| format!("reading {}", self.path.display()))?;
        let Some(complete) = buf.iter().rposition(|&b| b == b'\n').map(|i| i + 1) else {
            return Ok(());
        };
        self.read_to += complete as u64;
        let text = String::from_utf8_lossy(&buf[..complete]);
        self.lines.extend(text.lines().map(str::to_string));
        Ok(())
    }
}

/// Compiles each pattern, naming the one that is not a valid regex.
fn compile(patterns: &[Pattern]) -> Result<Vec<Regex>> {
    patterns.iter().map(Pattern::compile).collect()
}

/// `a`, `b` for an error message.
fn quoted<'a>(patterns: impl Iterator<Item = &'a Pattern>) -> String {
    patterns
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The outcome of giving each pattern its own line.
#[derive(Debug, PartialEq)]
enum Assignment {
    /// `lines[p]` is the index of the line for pattern `p`; `end` is one
    /// past the last line needed, the shortest prefix that works.
    Complete { lines: Vec<usize>, end: usize },
    /// Patterns left without a line (one maximum assignment's leftovers).
    Partial { unmatched: Vec<usize> },
}

/// Gives each regex a distinct line, reading lines in order and stopping
/// at the first line after which that is possible.
///
/// A greedy "first pattern that matches" would fail on patterns that
/// overlap (`foo` and `foo bar` against the lines `foo bar`, `foo`), so this
/// keeps a maximum matching between lines and patterns and extends it with
/// one augmenting path per new line (Kuhn's algorithm). Patterns are few,
/// and only lines matching some pattern take part. The state survives
/// between polls, so each poll reads only the lines that are new.
struct Matcher<'r> {
    regexes: &'r [Regex],
    /// For each candidate line: its index and the patterns it matches.
    candidates: Vec<(usize, Vec<usize>)>,
    /// `owner[p]`: index into `candidates` of the line holding pattern p.
    owner: Vec<Option<usize>>,
    assigned: usize,
    /// Lines already fed.
    seen: usize,
}

impl<'r> Matcher<'r> {
    fn new(regexes: &'r [Regex]) -> Self {
        Self {
            regexes,
            candidates: Vec::new(),
            owner: vec![None; regexes.len()],
            assigned: 0,
            seen: 0,
        }
    }

    /// Feeds the lines of `lines` (all lines from the cursor on, growing
    /// between calls) that it has not seen yet.
    fn feed(&mut self, lines: &[String]) -> Assignment {
        if self.regexes.is_empty() {
            return Assignment::Complete {
                lines: Vec::new(),
                end: 0,
            };
        }
        while self.seen < lines.len() {
            let i = self.seen;
            self.seen += 1;
            let matches: Vec<usize> = (0..self.regexes.len())
                .filter(|&p| self.regexes[p].is_match(&lines[i]))
                .collect();
            if matches.is_empty() {
                continue;
            }
            self.candidates.push((i, matches));
            let mut visited = vec![false; self.regexes.len()];
            let newest = self.candidates.len() - 1;
            if augment(newest, &self.candidates, &mut self.owner, &mut visited) {
                self.assigned += 1;
                if self.assigned == self.regexes.len() {
                    let lines = self
                        .owner
                        .iter()
                        .map(|c| self.candidates[c.expect("all assigned")].0)
                        .collect();
                    return Assignment::Complete { lines, end: i + 1 };
                }
            }
        }
        Assignment::Partial {
            unmatched: (0..self.regexes.len())
                .filter(|&p| self.owner[p].is_none())
                .collect(),
        }
    }
}

/// Tries to give candidate `c` a pattern, moving other candidates to other
/// patterns they match if needed. Returns whether it succeeded. A free
/// pattern is taken before any is moved, so identical patterns get their
/// lines in log order.
fn augment(
    c: usize,
    candidates: &[(usize, Vec<usize>)],
    owner: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    if let Some(&p) = candidates[c].1.iter().find(|&&p| owner[p].is_none()) {
        owner[p] = Some(c);
        return true;
    }
    for &p in &candidates[c].1 {
        if visited[p] {
            continue;
        }
        visited[p] = true;
        let free = match owner[p] {
            None => true,
            Some(other) => augment(other, candidates, owner, visited),
        };
        if free {
            owner[p] = Some(c);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const SHORT: Duration = Duration::from_millis(300);

    fn log_with(lines: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        append(&path, lines);
        (dir, path)
    }

    fn append(path: &Path, lines: &[&str]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
    }

    #[test]
    fn a_line_never_answers_two_patterns() {
        let (_dir, path) = log_with(&["x INFO lightningd: foo happened", "x DEBUG other"]);
        let mut log = LogCursor::new(&path);
        let err = log
            .wait_for_logs(["foo", "foo"], SHORT)
            .expect_err("one `foo` line must not satisfy two patterns");
        let text = format!("{err:#}");
        assert!(text.contains("no line yet for `foo`"), "{text}");
        // The cursor did not move: a second such line completes the wait.
        append(&path, &["y INFO lightningd: foo again"]);
        let lines = log.wait_for_logs(["foo", "foo"], SHORT).unwrap();
        assert_eq!(
            lines,
            [
                "x INFO lightningd: foo happened",
                "y INFO lightningd: foo again"
            ]
        );
    }

    /// Whether some injective pattern -> line assignment exists (brute force).
    fn assignable(lines: &[String], regexes: &[Regex], used: &mut Vec<bool>) -> bool {
        let Some((first, rest)) = regexes.split_first() else {
            return true;
        };
        (0..lines.len()).any(|i| {
            if used[i] || !first.is_match(&lines[i]) {
                return false;
            }
            used[i] = true;
            let ok = assignable(lines, rest, used);
            used[i] = false;
            ok
        })
    }

    /// Every sequence of up to 4 lines against every list of up to 3
    /// patterns from small alphabets, fed one line per poll: the matcher
    /// never uses a line twice, each line matches its pattern, and it
    /// completes exactly at the shortest prefix where brute force finds an
    /// assignment.
    #[test]
    fn assignment_agrees_with_brute_force_and_never_reuses_a_line() {
        let words = ["a", "b", "ab"];
        let pats = ["a", "b", "ab", "^a$"];
        let sequences = |alphabet: &[&'static str], max: usize| {
            let mut all: Vec<Vec<&'static str>> = vec![vec![]];
            let mut last = all.clone();
            for _ in 0..max {
                last = last
                    .iter()
                    .flat_map(|s| {
                        alphabet.iter().map(move |w| {
                            let mut s = s.clone();
                            s.push(*w);
                            s
                        })
                    })
                    .collect();
                all.extend(last.clone());
            }
            all
        };
        for pat_seq in sequences(&pats, 3) {
            let pats: Vec<Pattern> = pat_seq.iter().map(Pattern::from).collect();
            let regexes = compile(&pats).unwrap();
            for line_seq in sequences(&words, 4) {
                let lines: Vec<String> = line_seq.iter().map(|s| s.to_string()).collect();
                let shortest = (0..=lines.len())
                    .find(|&n| assignable(&lines[..n], &regexes, &mut vec![false; n]));
                let mut matcher = Matcher::new(&regexes);
                let mut outcome = matcher.feed(&[]);
                for n in 1..=lines.len() {
                    if matches!(outcome, Assignment::Complete { .. }) {
                        break;
                    }
                    outcome = matcher.feed(&lines[..n]);
                }
                match (outcome, shortest) {
                    (Assignment::Complete { lines: got, end }, Some(n)) => {
                        assert_eq!(end, n, "{line_seq:?} {pat_seq:?}");
                        let mut distinct = got.clone();
                        distinct.sort();
                        distinct.dedup();
                        assert_eq!(distinct.len(), got.len(), "{line_seq:?} {pat_seq:?}");
                        for (p, &i) in got.iter().enumerate() {
                            assert!(i < end && regexes[p].is_match(&lines[i]));
                        }
                    }
                    (Assignment::Partial { unmatched }, None) => {
                        assert!(!unmatched.is_empty(), "{line_seq:?} {pat_seq:?}");
                    }
                    (got, want) => panic!("{line_seq:?} {pat_seq:?}: {got:?} vs {want:?}"),
                }
            }
        }
    }

    #[test]
    fn a_timeout_names_a_matching_line_before_the_cursor_and_how_to_reach_it() {
        let (_dir, path) = log_with(&["plugin started", "noise", "ready", "more"]);
        let mut log = LogCursor::new(&path);
        assert_eq!(log.wait_for_log("ready", SHORT).unwrap(), "ready");
        let text = format!(
            "{:#}",
            log.wait_for_log("plugin started", SHORT).unwrap_err()
        );
        assert!(text.contains("searched from line 4 of 4"), "{text}");
        assert!(text.contains("`plugin started` matches line 1"), "{text}");
        assert!(text.contains("wait_for_log_since(&mark"), "{text}");
        // Nothing before the cursor matches: nothing is claimed.
        let text = format!("{:#}", log.wait_for_log("absent", SHORT).unwrap_err());
        assert!(!text.contains("before the cursor"), "{text}");
    }

    #[test]
    fn patterns_match_in_any_order() {
        let (_dir, path) = log_with(&["second thing", "noise", "first thing"]);
        let mut log = LogCursor::new(&path);
        let lines = log.wait_for_logs(["first", "second"], SHORT).unwrap();
        assert_eq!(lines, ["first thing", "second thing"]);
    }

    #[test]
    fn overlapping_patterns_find_the_assignment_that_exists() {
        // Greedy would give `foo bar` to `foo` and then starve `foo bar`.
        let (_dir, path) = log_with(&["foo bar", "foo"]);
        let mut log = LogCursor::new(&path);
        let lines = log.wait_for_logs(["foo", "foo bar"], SHORT).unwrap();
        assert_eq!(lines, ["foo", "foo bar"]);
    }

    #[test]
    fn the_cursor_moves_past_the_last_matched_line_only() {
        let (_dir, path) = log_with(&["a 1", "b 1", "a 2", "b 2"]);
        let mut log = LogCursor::new(&path);
        assert_eq!(log.wait_for_log("a", SHORT).unwrap(), "a 1");
        // `b 1` is after the cursor, `a 1` is not.
        assert_eq!(log.wait_for_log("b|a", SHORT).unwrap(), "b 1");
        assert_eq!(log.wait_for_log("a", SHORT).unwrap(), "a 2");
        assert_eq!(log.wait_for_log("a|b", SHORT).unwrap(), "b 2");
        log.wait_for_log("a|b", SHORT)
            .expect_err("every line is behind the cursor now");
    }

    #[test]
    fn waits_for_lines_written_later_and_ignores_half_lines() {
        let (_dir, path) = log_with(&["start"]);
        let mut log = LogCursor::new(&path);
        let writer_path = path.clone();
        let writer = std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&writer_path)
                .unwrap();
            write!(f, "half a li").unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(150));
            writeln!(f, "ne, then done").unwrap();
        });
        let line = log
            .wait_for_log("half a line", Duration::from_secs(5))
            .unwrap();
        assert_eq!(line, "half a line, then done");
        writer.join().unwrap();
    }

    #[test]
    fn timeout_error_names_the_patterns_and_quotes_the_tail() {
        let (_dir, path) = log_with(&["alpha", "beta"]);
        let mut log = LogCursor::new(&path);
        let err = log
            .wait_for_logs(["alpha", "gamma"], SHORT)
            .expect_err("gamma never comes");
        let text = format!("{err:#}");
        assert!(text.contains("timed out"), "{text}");
        assert!(text.contains("`alpha`, `gamma`"), "{text}");
        assert!(text.contains("no line yet for `gamma`"), "{text}");
        assert!(text.contains("--- last 2 lines of"), "{text}");
        assert!(text.ends_with("alpha\nbeta"), "{text}");
    }

    #[test]
    fn is_in_log_searches_everything_and_moves_nothing() {
        let (_dir, path) = log_with(&["old news", "fresh"]);
        let mut log = LogCursor::new(&path);
        log.skip_to_end().unwrap();
        assert_eq!(log.is_in_log("old").unwrap().as_deref(), Some("old news"));
        assert_eq!(log.is_in_log("missing").unwrap(), None);
        log.wait_for_log("old", SHORT)
            .expect_err("skip_to_end put `old news` behind the cursor");
    }

    #[test]
    fn a_log_that_does_not_exist_yet_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogCursor::new(dir.path().join("not-yet"));
        assert_eq!(log.is_in_log(".").unwrap(), None);
        let text = format!("{:#}", log.wait_for_log("x", SHORT).unwrap_err());
        assert!(text.contains("--- last 0 lines of"), "{text}");
    }

    #[test]
    fn an_invalid_pattern_is_named() {
        let (_dir, path) = log_with(&["x"]);
        let mut log = LogCursor::new(&path);
        let text = format!("{:#}", log.wait_for_log("(", SHORT).unwrap_err());
        assert!(text.contains("invalid log pattern `(`"), "{text}");
        assert!(text.contains("Pattern::literal"), "{text}");
    }

    #[test]
    fn a_failing_guard_ends_the_wait_at_once() {
        let (_dir, path) = log_with(&["x"]);
        let mut log = LogCursor::new(&path);
        let started = std::time::Instant::now();
        let err = log
            .wait_for_logs_while(["never"], Duration::from_secs(30), || {
                Err(crate::Error::msg("daemon died"))
            })
            .unwrap_err();
        assert!(format!("{err:#}").contains("daemon died"));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn no_patterns_is_an_immediate_empty_answer() {
        let (_dir, path) = log_with(&["x"]);
        let mut log = LogCursor::new(&path);
        assert!(log
            .wait_for_logs(Vec::<&str>::new(), SHORT)
            .unwrap()
            .is_empty());
        assert_eq!(log.wait_for_log("x", SHORT).unwrap(), "x");
    }

    #[test]
    fn literal_patterns_match_text_with_regex_characters() {
        let (_dir, path) = log_with(&[r#"DEBUG plugin-x: got {"id": 1} (a+b)"#]);
        let mut log = LogCursor::new(&path);
        let line = log
            .wait_for_logs([Pattern::literal(r#"{"id": 1} (a+b)"#)], SHORT)
            .unwrap();
        assert_eq!(line.len(), 1);
        log.set_position(&LogMark::start()).unwrap();
        let err = log.wait_for_log(r#"{"id": 1}"#, SHORT).unwrap_err();
        assert!(format!("{err:#}").contains("Pattern::literal"), "{err:#}");
    }

    #[test]
    fn a_mark_and_a_set_position_choose_where_the_search_starts() {
        let (_dir, path) = log_with(&["boot: started", "a 1"]);
        let mut log = LogCursor::new(&path);
        let mark = log.mark().unwrap();
        assert_eq!(mark.line(), 2);
        append(&path, &["a 2"]);
        log.set_position(&mark).unwrap();
        assert_eq!(log.wait_for_log("a", SHORT).unwrap(), "a 2");
        // Back to the start: the old lines are found again.
        log.set_position(&LogMark::start()).unwrap();
        assert_eq!(log.wait_for_log("boot", SHORT).unwrap(), "boot: started");
        assert_eq!(log.position().line(), 1);
        let other = LogCursor::new(path.with_file_name("other")).position();
        let err = log.set_position(&other).unwrap_err();
        assert!(err.to_string().contains("taken from"), "{err}");
    }

    #[test]
    fn a_complete_log_still_answers_with_the_lines_it_has() {
        let (_dir, path) = log_with(&["x starting", "x: important plugin died, shutting down"]);
        let mut log = LogCursor::new(&path);
        let line = log
            .wait_for_logs_while(["shutting down"], Duration::from_secs(30), || {
                Ok(LogState::Complete(Error::msg("l1 died: exit status: 1")))
            })
            .unwrap();
        assert_eq!(line, ["x: important plugin died, shutting down"]);
    }

    #[test]
    fn a_complete_log_without_the_line_fails_at_once_saying_why() {
        let (_dir, path) = log_with(&["x starting"]);
        let mut log = LogCursor::new(&path);
        let err = log
            .wait_for_logs_while(["never", "starting"], Duration::from_secs(600), || {
                Ok(LogState::Complete(Error::msg("l1 died: exit status: 1")))
            })
            .unwrap_err();
        let text = format!("{err:#}");
        // Not a timeout: the wait ended on the first poll.
        assert!(!err.is_timeout() && !text.contains("timed out"), "{text}");
        assert!(
            text.starts_with("l1 died: exit status: 1\nso nothing more can be logged"),
            "{text}"
        );
        assert!(
            text.contains("no line for `never` in the whole log"),
            "{text}"
        );
        assert!(text.ends_with("x starting"), "{text}");
        assert_eq!(log.position().line(), 0, "a failed wait moves nothing");
    }

    #[test]
    fn lines_written_before_the_writer_ended_are_read_after_it_ended() {
        // The state is asked before the file is read: the writer appends
        // its last line and ends between two polls, and the wait must see
        // the line rather than "ended, nothing found".
        let (_dir, path) = log_with(&["start"]);
        let mut log = LogCursor::new(&path);
        let mut polls = 0;
        let writer_path = path.clone();
        let line = log
            .wait_for_logs_while(["last words"], Duration::from_secs(30), || {
                polls += 1;
                if polls == 3 {
                    append(&writer_path, &["last words"]);
                    return Ok(LogState::Complete(Error::msg("ended")));
                }
                Ok(LogState::Growing)
            })
            .unwrap();
        assert_eq!(line, ["last words"]);
    }
}
