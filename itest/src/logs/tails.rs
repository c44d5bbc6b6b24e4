//! Reading the ends of log files for failure reports.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The last `n` lines of a file, reading at most the final 64 KiB; empty if
/// the file cannot be read.
pub(crate) fn tail_lines(path: &Path, n: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let mut buf = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Labelled tails of every non-empty file in `paths`, or one line saying
/// there was no output (naming the first path).
pub(crate) fn labelled_tails(name: &str, paths: &[std::path::PathBuf], n: usize) -> String {
    let tails: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            let tail = tail_lines(path, n);
            (!tail.trim().is_empty())
                .then(|| format!("--- last {n} lines of {} ---\n{tail}", path.display()))
        })
        .collect();
    if tails.is_empty() {
        let first = paths.first().map(|p| p.display().to_string());
        return format!(
            "--- {name}: no log output ({}) ---",
            first.unwrap_or_default()
        );
    }
    tails.join("\n")
}
