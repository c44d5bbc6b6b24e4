//! The one seam between the harness and where a daemon runs.
//!
//! Every daemon of a network gets one [`Placement`]. Everything whose
//! answer depends on the backend is answered here, and nowhere else:
//! - which program runs ([`Placement::program`]): a binary found on this
//!   machine, or a name on an image's PATH;
//! - how it is launched ([`Placement::launch`]);
//! - which `bitcoin-cli` a lightningd placed there runs
//!   ([`Placement::bitcoin_cli`]);
//! - whether a path of this machine is visible to the daemon
//!   ([`Placement::check_visible`]);
//! - how the program is run to read its `--version` or `--help`
//!   ([`Placement::capture`], with the one cache of such output).
//!
//! Above this module, `BitcoinD`, `Node` and `Network` read the same for
//! every backend.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::conf::{Conf, NodeConf};
use crate::daemon::boundary::{Daemon, DaemonSpec, Launcher};
use crate::daemon::docker::{self, DockerLauncher, ImageRef};
use crate::daemon::native::NativeLauncher;
use crate::probe::backend::Backend;
use crate::probe::engine;
use crate::probe::images::{BITCOIND_IMAGE_VAR, LIGHTNINGD_IMAGE_VAR};
use crate::probe::lookup::{Tool, BITCOIN_CLI};

/// How long reading a program's `--version` or `--help` may take (a first
/// container start from an image included).
const CAPTURE_LIMIT: Duration = Duration::from_secs(60);

/// Where one daemon runs; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A process of this machine.
    Native,
    /// A container from an image, sharing this machine's network and
    /// seeing some of its paths at the same absolute paths.
    Docker(Arc<DockerLauncher>),
}

impl Placement {
    /// Before a network places any daemon in a container: fails at once,
    /// with the one-line reason a skipped test would show, when no engine
    /// answers or an image is neither local nor pullable, and removes
    /// containers that killed test processes left behind.
    pub fn prepare(conf: &Conf) -> Result<()> {
        let images = [
            (
                conf.bitcoind_backend,
                &conf.bitcoind_image,
                BITCOIND_IMAGE_VAR,
            ),
            (
                conf.lightningd_backend,
                &conf.lightningd_image,
                LIGHTNINGD_IMAGE_VAR,
            ),
        ];
        let mut checked_engine = false;
        // A network without nodes needs no lightningd image.
        let needed = images.iter().enumerate().filter(|(i, (backend, _, _))| {
            *backend == Backend::Docker && (*i == 0 || !conf.nodes.is_empty())
        });
        for (_, (_, image, var)) in needed {
            if !checked_engine {
                engine::check().map_err(anyhow::Error::msg)?;
                checked_engine = true;
            }
            engine::image_available(&engine::docker_host(), image, var)
                .map_err(anyhow::Error::msg)?;
        }
        if checked_engine {
            if let Err(e) = docker::reap_orphans() {
                eprintln!("itest: could not remove containers of dead test processes: {e:#}");
            }
        }
        Ok(())
    }

    /// Where bitcoind of the network in `root` runs.
    pub fn bitcoind(conf: &Conf, root: &Path) -> Result<Self> {
        Ok(match conf.bitcoind_backend {
            Backend::Native => Self::native(),
            Backend::Docker => Self::docker(
                &conf.bitcoind_image,
                container_mounts(conf, root, None),
                root,
            )?,
        })
    }

    /// Where `node` of the network in `root` runs. A container's mounts are
    /// fixed when it starts: each node's sees the common mounts plus its
    /// own startup plugins' directories.
    pub fn lightningd(conf: &Conf, node: &NodeConf, root: &Path) -> Result<Self> {
        Ok(match conf.lightningd_backend {
            Backend::Native => Self::native(),
            Backend::Docker => Self::docker(
                &conf.lightningd_image,
                container_mounts(conf, root, Some(node)),
                root,
            )?,
        })
    }

    /// On this machine, whatever the configuration (e.g. to read a
    /// lightningd's `--help` without a network).
    pub fn native() -> Self {
        Self { kind: Kind::Native }
    }

    fn docker(image: &str, mounts: Vec<PathBuf>, root: &Path) -> Result<Self> {
        let image: ImageRef = image.parse()?;
        Ok(Self {
            kind: Kind::Docker(Arc::new(DockerLauncher::new(image, mounts, root))),
        })
    }

    /// The program to run for `tool`. Natively: `node_override`, else
    /// `configured`, else `PATH` (a missing one fails with what to do). In
    /// a container: the tool's name, looked up on the image's PATH;
    /// `configured` (a default from the environment) does not apply there,
    /// but an explicit `node_override` naming a binary of this machine is
    /// refused rather than silently ignored.
    pub fn program(
        &self,
        tool: Tool,
        configured: Option<&Path>,
        node_override: Option<&Path>,
    ) -> Result<PathBuf> {
        match &self.kind {
            Kind::Native => resolve(tool, node_override.or(configured)),
            Kind::Docker(launcher) => match node_override {
                Some(path) => bail!(
                    "{} ({}) names a binary on this machine, but {} runs in containers from {}",
                    tool.name,
                    path.display(),
                    tool.name,
                    launcher.image()
                ),
                None => Ok(PathBuf::from(tool.name)),
            },
        }
    }

    /// The bitcoin-cli that a lightningd placed here runs (its bcli plugin
    /// calls it for every bitcoind request): a lightningd image has its
    /// own; natively, [`Conf::bitcoin_cli`] or the one on `PATH`.
    pub fn bitcoin_cli(&self, conf: &Conf) -> Result<PathBuf> {
        match &self.kind {
            Kind::Native => resolve(BITCOIN_CLI, conf.bitcoin_cli.as_deref()),
            Kind::Docker(_) => Ok(PathBuf::from(BITCOIN_CLI.name)),
        }
    }

    /// Starts the daemon described by `spec` here.
    pub fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>> {
        match &self.kind {
            Kind::Native => NativeLauncher.launch(spec),
            Kind::Docker(launcher) => launcher.launch(spec),
        }
    }

    /// `Ok` if the daemon sees `path` of this machine at the same path,
    /// else why not and what to do. Natively it sees everything; a
    /// container sees what is mounted into it when it starts. A path that
    /// exists nowhere passes, so that the daemon answers for it as it would
    /// natively.
    pub fn check_visible(&self, path: &Path, who: &str) -> Result<(), String> {
        let Kind::Docker(launcher) = &self.kind else {
            return Ok(());
        };
        if !path.exists() || docker::is_visible(path, launcher.mounts()) {
            return Ok(());
        }
        let mounts: Vec<String> = launcher
            .mounts()
            .iter()
            .map(|m| m.display().to_string())
            .collect();
        Err(format!(
            "{who} runs in a container, which cannot see {}: it sees only {}. Bind mounts are fixed when the container starts: add the plugin's directory to Conf::container_mounts, or name the plugin in NodeConf::plugins",
            path.display(),
            mounts.join(", ")
        ))
    }

    /// What `program args` prints (stdout, then stderr) when run here, for
    /// `--version` and `--help`. Cached for the life of the process: the
    /// same binary or image always prints the same.
    pub fn capture(&self, program: &Path, args: &[&str]) -> Result<String> {
        type Key = (String, PathBuf, Vec<String>);
        static CACHE: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
        let key: Key = (
            self.to_string(),
            program.to_path_buf(),
            args.iter().map(|a| a.to_string()).collect(),
        );
        let cache = CACHE.get_or_init(Default::default);
        if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(hit.clone());
        }
        let text = match &self.kind {
            Kind::Native => run_capture(program, args)?,
            Kind::Docker(launcher) => docker::output(
                launcher.image(),
                &program.display().to_string(),
                args,
                CAPTURE_LIMIT,
            )?,
        };
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, text.clone());
        Ok(text)
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Native => f.write_str("this machine"),
            Kind::Docker(launcher) => write!(f, "containers from {}", launcher.image()),
        }
    }
}

/// Resolves `tool` from a configured value (a path, or a bare name looked
/// up on `PATH`), else from `PATH`; fails with the "not found: ..." message
/// that also serves as the `#[ignore]` reason.
fn resolve(tool: Tool, configured: Option<&Path>) -> Result<PathBuf> {
    let configured = configured.map(|p| p.as_os_str().to_os_string());
    match tool.resolve(configured.clone(), std::env::var_os("PATH")) {
        Some(path) => Ok(path),
        None => match configured {
            Some(value) => bail!(
                "{} {:?} is not an executable file (configured path)",
                tool.name,
                value
            ),
            None => bail!("{}", tool.missing_message()),
        },
    }
}

/// `program args` on this machine: stdout then stderr. Some releases exit
/// non-zero after `--help`; the text is what matters, so only no output at
/// all is an error.
fn run_capture(program: &Path, args: &[&str]) -> Result<String> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running `{shown}`"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if text.trim().is_empty() {
        bail!("`{shown}` printed nothing ({})", out.status);
    }
    Ok(text)
}

/// What a container sees: [`Conf::container_mounts`], the temp root
/// holding the network in `root`, and for a node libfaketime and the
/// directories of its startup plugins.
fn container_mounts(conf: &Conf, root: &Path, node: Option<&NodeConf>) -> Vec<PathBuf> {
    let mut mounts = conf.container_mounts.clone();
    mounts.push(conf.tmp_root.clone().unwrap_or_else(std::env::temp_dir));
    mounts.push(root.to_path_buf());
    if let Some(node) = node {
        mounts.extend(conf.libfaketime.clone());
        mounts.extend(
            node.plugins()
                .filter_map(|p| p.path.parent().map(Path::to_path_buf)),
        );
    }
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::lookup::LIGHTNINGD;

    #[test]
    fn a_configured_path_that_is_not_executable_is_named() {
        let err = Placement::native()
            .program(LIGHTNINGD, Some(Path::new("/no/such/lightningd")), None)
            .unwrap_err();
        assert!(err.to_string().contains("/no/such/lightningd"), "{err}");
    }

    #[test]
    fn a_container_refuses_a_binary_of_this_machine_and_ignores_defaults() {
        let placement = Placement::docker("img:tag", Vec::new(), Path::new("/tmp")).unwrap();
        let err = placement
            .program(LIGHTNINGD, None, Some(Path::new("/opt/cln/bin/lightningd")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/opt/cln/bin/lightningd") && err.contains("img:tag"),
            "{err}"
        );
        let default = Path::new("/usr/local/bin/lightningd");
        assert_eq!(
            placement.program(LIGHTNINGD, Some(default), None).unwrap(),
            PathBuf::from("lightningd")
        );
    }

    #[test]
    fn capture_runs_once_per_program_and_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let script = dir.path().join("prog");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho run >> {}\necho \"$@\"\n", count.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let native = Placement::native();
        assert_eq!(
            native.capture(&script, &["--version"]).unwrap(),
            "--version\n"
        );
        assert_eq!(
            native.capture(&script, &["--version"]).unwrap(),
            "--version\n"
        );
        assert_eq!(native.capture(&script, &["--help"]).unwrap(), "--help\n");
        let runs = std::fs::read_to_string(&count).unwrap();
        assert_eq!(runs.lines().count(), 2, "{runs}");
    }
}
