//! Whether a started node runs every plugin it was given.
//!
//! lightningd carries on without a plugin that dies while it starts
//! (unless it was given as `--important-plugin`): it logs `Killing
//! plugin: exited before replying to getmanifest` (v23.02 logs nothing at
//! all), and a test would first notice at its first call, as `Unknown
//! command`. So once a node is up the harness asks `plugin list`, and a
//! plugin missing from it, or never active, fails the start with its path,
//! what lightningd logged about it and the stderr it shares with
//! lightningd.
//!
//! A plugin that never answers keeps lightningd from starting at all:
//! lightningd waits for every startup plugin's `getmanifest` reply, then
//! for its `init` reply, and kills one that takes longer than 60 s
//! (`PLUGIN_MANIFEST_TIMEOUT`, v24.11 and older, getmanifest only) or
//! 120 s (`PLUGIN_STARTUP_TIMEOUT`, v25.02 and later, each step), then
//! exits. That is also why `plugin start` of a silent plugin gets no reply
//! for two minutes on v26. The readiness limit usually passes first; the
//! error then names the plugins lightningd started and the step its log
//! shows it waiting on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{lock, Node};
use crate::conf::NodeConf;
use crate::version::Version;

/// lightningd's log line once every startup plugin answered getmanifest
/// (`check_plugins_manifests`, at debug level, v23.02 to v26.06).
const MANIFESTS_DONE: &str = "io_break: check_plugins_manifests";

/// How many of lightningd's lines about one plugin an error quotes.
const LINES_QUOTED: usize = 8;

/// Startup plugins lightningd must be running after a start: each of
/// `conf`'s plugins (by `started`, the paths lightningd got for them, in
/// the same order) and each absolute `--plugin=` or `--important-plugin=`
/// option. None for a node that may fail, nor plugins that may.
pub(super) fn expected(conf: &NodeConf, started: &[PathBuf]) -> Vec<PathBuf> {
    if conf.may_fail {
        return Vec::new();
    }
    let mut paths: Vec<PathBuf> = conf
        .plugins()
        .zip(started)
        .filter(|(plugin, _)| !plugin.may_fail)
        .map(|(_, path)| path.clone())
        .collect();
    for option in conf.options() {
        for flag in ["--plugin=", "--important-plugin="] {
            if let Some(path) = option.strip_prefix(flag).map(Path::new) {
                if path.is_absolute() {
                    paths.push(path.to_path_buf());
                }
            }
        }
    }
    paths
}

impl Node {
    /// `Ok` once every plugin of `expected` is active in `plugin list`;
    /// else, as soon as one is gone or when `limit` passes, why, naming it.
    pub(super) fn check_plugins(
        &self,
        expected: &[PathBuf],
        limit: Duration,
    ) -> Result<(), String> {
        if expected.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + limit;
        loop {
            let listed = self
                .call_with_timeout("plugin", json!({"subcommand": "list"}), self.timeout)
                .map_err(|e| format!("`plugin list`, to check its plugins, failed: {e}"))?;
            let mut inactive = None;
            for path in expected {
                match plugin_state(&listed, path) {
                    None => return Err(self.plugin_gone(path)),
                    Some(false) => inactive = inactive.or(Some(path)),
                    Some(true) => {}
                }
            }
            let Some(path) = inactive else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "plugin {} never finished starting: `plugin list` still shows it inactive after {} s (it has not answered `init`){}",
                    path.display(),
                    limit.as_secs(),
                    self.lines_about(path)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Why `path` is not in `plugin list`: lightningd's verdict, if it
    /// logged one, and its lines about the plugin.
    fn plugin_gone(&self, path: &Path) -> String {
        let lines = self.log_lines_about(path);
        // The first: lightningd may log a second one as it fails the
        // request the plugin never answered.
        let verdict = lines.iter().find_map(|l| {
            l.split_once("Killing plugin: ")
                .map(|(_, v)| v.trim().to_string())
        });
        let said = match verdict {
            Some(verdict) => format!("lightningd: \"Killing plugin: {verdict}\""),
            None => "lightningd logged no reason (v23.02 logs nothing when a plugin dies while it starts)".to_string(),
        };
        format!(
            "plugin {} is not running: it is not in `plugin list`; {said}; its stderr is lightningd's (below){}",
            path.display(),
            quote(&lines)
        )
    }

    /// What lightningd's log says of plugins when it did not come up:
    /// each plugin lightningd killed, with its verdict, else the step it
    /// was still waiting on and the plugins it had started. Empty when the
    /// log says nothing of the kind.
    pub(super) fn plugin_diagnosis(&self, expected: &[PathBuf]) -> String {
        if expected.is_empty() {
            return String::new();
        }
        let lines = self.run_lines();
        let mut out = String::new();
        for path in expected {
            let about = about(&lines, path);
            if let Some(killed) = about.iter().find(|l| l.contains("Killing plugin: ")) {
                out.push_str(&format!("\nplugin {}: {}", path.display(), killed.trim()));
            }
        }
        if !out.is_empty() {
            return out;
        }
        let started: Vec<String> = expected
            .iter()
            .filter(|p| !about(&lines, p).is_empty())
            .map(|p| p.display().to_string())
            .collect();
        if started.is_empty() {
            return String::new();
        }
        let step = if lines.iter().any(|l| l.contains(MANIFESTS_DONE)) {
            "init (or later in its start)"
        } else {
            "getmanifest"
        };
        let limit = if self.version() >= Version::new(25, 2, 0) {
            "120 s (PLUGIN_STARTUP_TIMEOUT, for getmanifest and for init)"
        } else {
            "60 s (PLUGIN_MANIFEST_TIMEOUT, for getmanifest)"
        };
        format!(
            "\nlightningd was still waiting for a reply to `{step}` from one of the plugins it started: {}; \
             it gives a plugin {limit} before it kills it and exits",
            started.join(", ")
        )
    }

    /// For a failed `plugin start` of `path`: what lightningd logged about
    /// it, its limit, and the stderr written since `stderr_from`.
    pub(super) fn plugin_start_failure(&self, path: &Path, stderr_from: u64) -> String {
        let limit = if self.version() >= Version::new(25, 2, 0) {
            120
        } else {
            60
        };
        let stderr = self.stderr_since(stderr_from);
        let stderr = stderr.trim_end();
        format!(
            "plugin {}: lightningd gives a plugin {limit} s to answer getmanifest and init before it kills it and answers `plugin start`{}{}",
            path.display(),
            self.lines_about(path),
            if stderr.is_empty() {
                String::new()
            } else {
                format!("\n--- stderr since `plugin start` (lightningd's and its plugins') ---\n{stderr}")
            }
        )
    }

    /// This run's log lines (since the last launch) about `path`.
    fn log_lines_about(&self, path: &Path) -> Vec<String> {
        about(&self.run_lines(), path)
    }

    /// The quoted lines about `path`, for a message.
    fn lines_about(&self, path: &Path) -> String {
        quote(&self.log_lines_about(path))
    }

    /// The log lines of this run (since the last launch).
    fn run_lines(&self) -> Vec<String> {
        let mut log = lock(&self.log);
        let from = log.launched_at();
        log.lines()
            .map(|lines| lines.get(from..).unwrap_or_default().to_vec())
            .unwrap_or_default()
    }
}

/// Whether `plugin list`'s reply shows `path` active; `None` if it is not
/// listed.
fn plugin_state(listed: &Value, path: &Path) -> Option<bool> {
    let plugins = listed["plugins"].as_array()?;
    let entry = plugins
        .iter()
        .find(|p| p["name"].as_str().map(Path::new) == Some(path))?;
    Some(entry["active"].as_bool().unwrap_or(true))
}

/// The lines of `lines` about the plugin at `path`: its own (lightningd
/// prefixes them `plugin-<file name>:`) and the plugin manager's naming
/// its path.
fn about(lines: &[String], path: &Path) -> Vec<String> {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    let prefix = file.map(|f| format!("plugin-{f}:"));
    let full = path.display().to_string();
    lines
        .iter()
        .filter(|l| prefix.as_deref().is_some_and(|p| l.contains(p)) || l.contains(&full))
        .cloned()
        .collect()
}

/// The last lines of `lines` under a header, or nothing.
fn quote(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let from = lines.len().saturating_sub(LINES_QUOTED);
    format!(
        "\n--- lightningd's log lines about it ---\n{}",
        lines[from..].join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::PluginConf;

    #[test]
    fn expects_given_plugins_and_absolute_plugin_options_unless_allowed_to_fail() {
        let conf = NodeConf::default()
            .with_plugin("/p/a", [])
            .with_plugin_conf(PluginConf::new("/p/b").may_fail())
            .with_option("--plugin=/p/c")
            .with_option("--important-plugin=/p/d")
            .with_option("--plugin=relative");
        let started = [PathBuf::from("/wrapped/a"), PathBuf::from("/p/b")];
        assert_eq!(
            expected(&conf, &started),
            ["/wrapped/a", "/p/c", "/p/d"].map(PathBuf::from)
        );
        assert!(expected(&conf.may_fail(), &started).is_empty());
    }

    #[test]
    fn reads_plugin_list_by_path() {
        let listed = json!({"plugins": [
            {"name": "/p/a", "active": true, "dynamic": true},
            {"name": "/p/b", "active": false, "dynamic": true},
        ]});
        assert_eq!(plugin_state(&listed, Path::new("/p/a")), Some(true));
        assert_eq!(plugin_state(&listed, Path::new("/p/b")), Some(false));
        assert_eq!(plugin_state(&listed, Path::new("/p/c")), None);
    }

    #[test]
    fn finds_the_lines_about_one_plugin() {
        let lines = [
            "DEBUG plugin-manager: started(42) /p/crash.py",
            "DEBUG plugin-other.py: hello",
            "INFO plugin-crash.py: Killing plugin: exited before replying to getmanifest",
        ]
        .map(String::from);
        let found = about(&lines, Path::new("/p/crash.py"));
        assert_eq!(found, [lines[0].clone(), lines[2].clone()]);
    }
}
