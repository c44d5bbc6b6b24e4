//! Running a lightningd binary once with options and plugins, without a
//! node: `lightningd --plugin=<p> --help` to see a plugin's options, or a
//! start that must fail (pyln-testing users call `subprocess` for these).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::bin::Lightningd;
use crate::conf::{NodeArg, NodeConf};
use crate::error::{bail, Context, Result};
use crate::wait::wait_until;

/// What one [`Lightningd::run`] printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LightningdRun {
    /// The arguments it was given, after the program.
    pub args: Vec<String>,
    /// Its exit code; `None` if a signal ended it.
    pub code: Option<i32>,
    /// What it printed on stdout (the `--help` listing goes here).
    pub stdout: String,
    /// What it printed on stderr (why a plugin or option was refused).
    pub stderr: String,
}

impl LightningdRun {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl Lightningd {
    /// Runs this lightningd once with `args` in a fresh, empty lightning
    /// directory (unless `args` name one), and returns what it printed
    /// once it exits, within `limit`. For `--help`, `--version` or a
    /// start expected to fail; a run that would start a node (and never
    /// exit) fails at `limit`, killed.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use cln_itest::{Conf, Lightningd, NodeConf};
    ///
    /// let lightningd = Lightningd::of(&Conf::default()).unwrap();
    /// let plugin = NodeConf::default().with_plugin("/abs/path/to/my-plugin", []);
    /// let run = lightningd.run_with(&plugin, ["--help"], Duration::from_secs(60)).unwrap();
    /// assert!(run.success() && run.stdout.contains("--my-option"));
    /// ```
    pub fn run<S: AsRef<str>>(
        &self,
        args: impl IntoIterator<Item = S>,
        limit: Duration,
    ) -> Result<LightningdRun> {
        self.run_with(&NodeConf::default(), args, limit)
    }

    /// [`Lightningd::run`] with `node`'s options and startup plugins
    /// (with their options, in order) before `args`, and its environment
    /// and its plugins' environments set (lightningd gets them all). Only
    /// a lightningd of this machine: in a container the plugins, and any
    /// path given, are not there.
    pub fn run_with<S: AsRef<str>>(
        &self,
        node: &NodeConf,
        args: impl IntoIterator<Item = S>,
        limit: Duration,
    ) -> Result<LightningdRun> {
        let program = self.program().to_path_buf();
        if !program.is_absolute() {
            bail!(
                "Lightningd::run runs a lightningd of this machine; this one runs on {} \
                 (set ITEST_LIGHTNINGD_BACKEND=native, or LIGHTNINGD)",
                self.runs_on()
            );
        }
        let mut full: Vec<String> = Vec::new();
        for arg in &node.args {
            match arg {
                NodeArg::Option(o) => full.push(o.clone()),
                NodeArg::Plugin(p) => {
                    full.push(format!("--plugin={}", p.path.display()));
                    full.extend(p.options.iter().map(|(n, v)| format!("--{n}={v}")));
                }
            }
        }
        full.extend(args.into_iter().map(|a| a.as_ref().to_string()));
        let dir = tempfile::Builder::new()
            .prefix("itest-run")
            .tempdir()
            .context("creating a lightning dir for the run")?;
        if !full.iter().any(|a| a.starts_with("--lightning-dir")) {
            full.insert(0, format!("--lightning-dir={}", dir.path().display()));
        }
        let out_path = dir.path().join("run.stdout");
        let err_path = dir.path().join("run.stderr");
        let shown = format!("`{} {}`", program.display(), full.join(" "));
        let mut command = Command::new(&program);
        command
            .args(&full)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).context("creating run.stdout")?)
            .stderr(std::fs::File::create(&err_path).context("creating run.stderr")?);
        command.envs(node.env.iter().map(|(k, v)| (k, v)));
        for plugin in node.plugins() {
            command.envs(plugin.env.iter().map(|(k, v)| (k, v)));
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {shown}"))?;
        let waited = wait_until(&format!("{shown} to exit"), limit, |_| {
            child
                .try_wait()
                .with_context(|| format!("waiting for {shown}"))
        });
        let status = match waited {
            Ok(status) => status,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let read = |p: &PathBuf| {
            std::fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .with_context(|| format!("reading {}", p.display()))
        };
        Ok(LightningdRun {
            args: full,
            code: status.code(),
            stdout: read(&out_path)?,
            stderr: read(&err_path)?,
        })
    }
}
