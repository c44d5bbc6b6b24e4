//! Where each daemon of a network runs, per [`Backend`]: which program it
//! is and which launcher starts it.
//!
//! Kept out of `network` so that the network's logic reads the same for
//! both backends: it asks this module for a program and a launcher, and
//! never looks at the backend itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Result};

use crate::backend::Backend;
use crate::binaries::{resolve, LightningdBin, BITCOIND, BITCOIN_CLI, LIGHTNINGD};
use crate::conf::{Conf, NodeConf};
use crate::daemon::Launcher;
use crate::docker::DockerLauncher;

/// With a daemon on the docker backend: fails at once, with the one-line
/// reason, when no engine answers, and removes containers that test
/// processes killed earlier left behind.
pub(crate) fn prepare(conf: &Conf) -> Result<()> {
    if conf.bitcoind_backend == Backend::Docker || conf.lightningd_backend == Backend::Docker {
        crate::docker::engine_check().map_err(anyhow::Error::msg)?;
        if let Err(e) = crate::docker::reap_orphans() {
            eprintln!("itest: could not remove containers of dead test processes: {e:#}");
        }
    }
    Ok(())
}

/// The lightningd a node runs: a binary on this machine, or on the docker
/// backend the `lightningd` on the image's PATH.
pub(crate) fn lightningd(conf: &Conf, node: &NodeConf) -> Result<PathBuf> {
    match conf.lightningd_backend {
        Backend::Native => {
            let configured = node.lightningd.as_deref().or(conf.lightningd.as_deref());
            resolve(LIGHTNINGD, configured)
        }
        Backend::Docker => match &node.lightningd {
            Some(path) => bail!(
                "NodeConf::lightningd ({}) names a binary on this machine, but lightningd runs in containers from {} (Conf::lightningd_backend is docker)",
                path.display(),
                conf.lightningd_image
            ),
            None => Ok(PathBuf::from("lightningd")),
        },
    }
}

/// Version and options of a node's lightningd (read from the image on the
/// docker backend).
pub(crate) fn inspect_lightningd(conf: &Conf, path: &Path) -> Result<LightningdBin> {
    match conf.lightningd_backend {
        Backend::Native => LightningdBin::inspect(path),
        Backend::Docker => LightningdBin::inspect_image(&conf.lightningd_image),
    }
}

/// bitcoind: a binary here, or the one on the image's PATH.
pub(crate) fn bitcoind(conf: &Conf) -> Result<PathBuf> {
    match conf.bitcoind_backend {
        Backend::Native => resolve(BITCOIND, conf.bitcoind.as_deref()),
        Backend::Docker => Ok(PathBuf::from("bitcoind")),
    }
}

/// The bitcoin-cli lightningd's bcli plugin runs: a lightningd image has
/// its own; a native lightningd needs one on this machine.
pub(crate) fn bitcoin_cli(conf: &Conf) -> Result<PathBuf> {
    match conf.lightningd_backend {
        Backend::Native => resolve(BITCOIN_CLI, conf.bitcoin_cli.as_deref()),
        Backend::Docker => Ok(PathBuf::from("bitcoin-cli")),
    }
}

/// The launcher for bitcoind of the network in `root`.
pub(crate) fn bitcoind_launcher(
    conf: &Conf,
    native: &Arc<dyn Launcher>,
    root: &Path,
) -> Result<Arc<dyn Launcher>> {
    Ok(match conf.bitcoind_backend {
        Backend::Native => native.clone(),
        Backend::Docker => Arc::new(DockerLauncher::new(
            conf.bitcoind_image.parse()?,
            container_mounts(conf, root, None),
            root,
        )),
    })
}

/// How one node is started.
pub(crate) struct NodePlacement {
    pub launcher: Arc<dyn Launcher>,
    /// On the docker backend, the host paths its container sees.
    pub container_mounts: Option<Vec<PathBuf>>,
}

/// How `node` of the network in `root` is started. A container's mounts
/// are fixed when it starts: each node's sees the common mounts plus its
/// own startup plugins' directories.
pub(crate) fn node(
    conf: &Conf,
    native: &Arc<dyn Launcher>,
    node: &NodeConf,
    root: &Path,
) -> Result<NodePlacement> {
    Ok(match conf.lightningd_backend {
        Backend::Native => NodePlacement {
            launcher: native.clone(),
            container_mounts: None,
        },
        Backend::Docker => {
            let launcher = DockerLauncher::new(
                conf.lightningd_image.parse()?,
                container_mounts(conf, root, Some(node)),
                root,
            );
            NodePlacement {
                container_mounts: Some(launcher.mounts().to_vec()),
                launcher: Arc::new(launcher),
            }
        }
    })
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
            node.plugins
                .iter()
                .filter_map(|p| p.path.parent().map(Path::to_path_buf)),
        );
    }
    mounts
}

/// Policy options for bitcoind that depend on which bitcoind it is.
///
/// Bitcoin Knots (what Debian packages) refuses to relay or mine
/// transactions it takes for "parasitic" protocols, and one of its rules
/// is `nLockTime == 21`. lightningd's anti-fee-sniping sometimes sets a
/// funding transaction's locktime a random number of blocks back, which
/// on a young regtest chain lands on 21 often enough to fail a test now
/// and then. Bitcoin Core rejects the option as unknown, so it is given
/// only to Knots. Cached per binary or image.
pub(crate) fn bitcoind_policy_args(conf: &Conf, bitcoind: &Path) -> Vec<String> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Vec<(String, bool)>>> =
        std::sync::OnceLock::new();
    let key = match conf.bitcoind_backend {
        Backend::Native => bitcoind.display().to_string(),
        Backend::Docker => format!("image {}", conf.bitcoind_image),
    };
    let cache = CACHE.get_or_init(Default::default);
    let known = cache
        .lock()
        .unwrap()
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, knots)| *knots);
    let knots = known.unwrap_or_else(|| {
        // A failed probe means bitcoind itself will fail to start, and
        // that error, with its log, says more than this one could.
        let version = match conf.bitcoind_backend {
            Backend::Native => std::process::Command::new(bitcoind)
                .arg("-version")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default(),
            Backend::Docker => conf
                .bitcoind_image
                .parse()
                .and_then(|image| {
                    crate::docker::output(
                        &image,
                        "bitcoind",
                        &["-version"],
                        std::time::Duration::from_secs(60),
                    )
                })
                .unwrap_or_default(),
        };
        let knots = version.contains("Knots");
        cache.lock().unwrap().push((key, knots));
        knots
    });
    if knots {
        vec!["-rejectparasites=0".into()]
    } else {
        Vec::new()
    }
}
