//! The docker backend behind the daemon boundary (`crate::daemon::boundary`).
//!
//! `BitcoinD` and `Node` describe their daemon as a `DaemonSpec` whatever
//! the backend; this launcher runs that spec in a container: the program
//! (a bare name such as `lightningd`) is looked up on the image's PATH,
//! the arguments are passed unchanged, and the paths they name are the same
//! inside: bind-mounted where the container shares this machine, copied
//! (or in a volume, or forwarded) where it shares nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

use super::container::Container;
use super::host::visible_mounts;
use super::image::ImageRef;
use super::isolation::Isolation;
use super::spec::{ContainerSpec, IsolatedSpec, Sharing};
use crate::daemon::boundary::{Daemon, DaemonSpec, Launcher};

/// What the containers of a launcher share with this machine.
#[derive(Debug, Clone)]
pub(crate) enum Share {
    /// Host networking and these paths, bind-mounted.
    Host(Vec<PathBuf>),
    /// Nothing; they live on this network's share of the engine.
    Isolated(Arc<Isolation>),
}

/// Starts daemons in containers from one image.
#[derive(Debug, Clone)]
pub(crate) struct DockerLauncher {
    image: ImageRef,
    share: Share,
    owner_dir: PathBuf,
}

impl DockerLauncher {
    /// Containers from `image` sharing `share` (host mounts are reduced
    /// to those that exist, none inside another), labelled as owned by
    /// this process for the network in `owner_dir`.
    pub fn new(image: ImageRef, share: Share, owner_dir: &Path) -> Self {
        let share = match share {
            Share::Host(mounts) => Share::Host(visible_mounts(mounts)),
            other => other,
        };
        Self {
            image,
            share,
            owner_dir: owner_dir.to_path_buf(),
        }
    }

    /// The image its containers run.
    pub fn image(&self) -> &ImageRef {
        &self.image
    }

    /// What its containers share.
    pub fn share(&self) -> &Share {
        &self.share
    }
}

impl Launcher for DockerLauncher {
    fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>> {
        let sharing = match &self.share {
            Share::Host(mounts) => Sharing::Host {
                mounts: mounts.clone(),
            },
            Share::Isolated(net) => Sharing::Isolated(IsolatedSpec {
                net: net.clone(),
                inputs: spec.inputs.clone(),
                dirs: spec.dirs.clone(),
                state: spec.state.clone(),
                fetch_state: spec.fetch_state,
                ports: spec.ports.clone(),
                socket: spec.socket.clone(),
                // The placement has the daemon log to stdout there.
                log_to_stdout: true,
            }),
        };
        let spec = ContainerSpec {
            name: spec.name.clone(),
            image: self.image.clone(),
            entrypoint: spec.program.display().to_string(),
            args: spec
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
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
            sharing,
        };
        Ok(Box::new(Container::start(&spec)?))
    }
}
