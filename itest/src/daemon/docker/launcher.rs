//! The docker backend behind the daemon boundary (`crate::daemon::boundary`).
//!
//! `BitcoinD` and `Node` describe their daemon as a `DaemonSpec` whatever
//! the backend; this launcher runs that spec in a container: the program
//! (a bare name such as `lightningd`) is looked up on the image's PATH,
//! the arguments are passed unchanged, and the paths they name are visible
//! because every mount sits at the same absolute path.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::container::{Container, ContainerSpec};
use super::image::ImageRef;
use crate::daemon::boundary::{Daemon, DaemonSpec, Launcher};

/// Starts daemons in containers from one image.
#[derive(Debug, Clone)]
pub(crate) struct DockerLauncher {
    image: ImageRef,
    mounts: Vec<PathBuf>,
    owner_dir: PathBuf,
}

impl DockerLauncher {
    /// Containers from `image` that see `mounts` (see [`visible_mounts`]),
    /// labelled as owned by this process for the network in `owner_dir`.
    pub fn new(image: ImageRef, mounts: Vec<PathBuf>, owner_dir: &Path) -> Self {
        Self {
            image,
            mounts: visible_mounts(mounts),
            owner_dir: owner_dir.to_path_buf(),
        }
    }

    /// The image its containers run.
    pub fn image(&self) -> &ImageRef {
        &self.image
    }

    /// The host paths its containers see.
    pub fn mounts(&self) -> &[PathBuf] {
        &self.mounts
    }
}

impl Launcher for DockerLauncher {
    fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>> {
        let spec = ContainerSpec {
            name: spec.name.clone(),
            image: self.image.clone(),
            entrypoint: spec.program.display().to_string(),
            args: spec
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            mounts: self.mounts.clone(),
            env: spec
                .env
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect(),
            log_dir: spec.dir.clone(),
            daemon_log: spec.log.clone(),
            owner_dir: self.owner_dir.clone(),
            workdir: Some(spec.dir.clone()),
        };
        Ok(Box::new(Container::start(&spec)?))
    }
}

/// The mounts to give a container: existing absolute paths, each once,
/// none inside another (a parent mount already shows it).
pub(crate) fn visible_mounts(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| p.is_absolute() && p.exists())
        .collect();
    paths.sort();
    paths.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for path in paths {
        if !kept.iter().any(|k| path.starts_with(k)) {
            kept.push(path);
        }
    }
    kept
}

/// Whether `path` lies under one of `mounts`, i.e. the container sees it
/// at the same path.
pub(crate) fn is_visible(path: &Path, mounts: &[PathBuf]) -> bool {
    path.is_absolute() && mounts.iter().any(|m| path.starts_with(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_missing_mounts_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a");
        std::fs::create_dir(&inner).unwrap();
        let kept = visible_mounts(vec![
            inner.clone(),
            dir.path().to_path_buf(),
            PathBuf::from("/nonexistent/x"),
            PathBuf::from("relative"),
            dir.path().to_path_buf(),
        ]);
        assert_eq!(kept, vec![dir.path().to_path_buf()]);
        assert!(is_visible(&inner.join("plugin"), &kept));
        assert!(!is_visible(Path::new("/elsewhere/plugin"), &kept));
        assert!(!is_visible(Path::new("relative/plugin"), &kept));
    }
}
