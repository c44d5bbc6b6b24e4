//! What to run in a container, and what it shares with this machine.

use std::path::PathBuf;
use std::sync::Arc;

use super::image::ImageRef;
use super::isolation::Isolation;

/// What to run in a container.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The daemon's name in logs and errors (`bitcoind`, `l1`).
    pub name: String,
    /// The image to run.
    pub image: ImageRef,
    /// The program to run, looked up on the image's PATH.
    pub entrypoint: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables set in the container.
    pub env: Vec<(String, String)>,
    /// Where `<name>.stdout` and `<name>.stderr` are written.
    pub log_dir: PathBuf,
    /// The daemon's own log file, shown first in log tails.
    pub daemon_log: PathBuf,
    /// The network directory, recorded in the owner labels.
    pub owner_dir: PathBuf,
    /// Working directory inside the container.
    pub workdir: Option<PathBuf>,
    /// What the container shares with this machine.
    pub sharing: Sharing,
}

/// What a container shares with this machine.
#[derive(Debug, Clone)]
pub enum Sharing {
    /// Everything it needs: host networking (it binds this machine's
    /// ports), these directories or files bind-mounted at the same paths,
    /// and the host user (whatever it writes, the test can delete).
    Host {
        /// Absolute paths of this machine, each existing.
        mounts: Vec<PathBuf>,
    },
    /// Nothing: see `isolated`.
    Isolated(IsolatedSpec),
}

impl ContainerSpec {
    /// Where the container's stdout is copied: the daemon's log where it
    /// logs to stdout, else `<log_dir>/<name>.stdout`.
    pub(crate) fn stdout_file(&self) -> PathBuf {
        match &self.sharing {
            Sharing::Isolated(iso) if iso.log_to_stdout => self.daemon_log.clone(),
            _ => self.log_dir.join(format!("{}.stdout", self.name)),
        }
    }

    pub(crate) fn stderr_file(&self) -> PathBuf {
        self.log_dir.join(format!("{}.stderr", self.name))
    }
}

/// What an isolated container gets besides its command line.
#[derive(Debug, Clone)]
pub struct IsolatedSpec {
    /// The `Network`'s share of the engine.
    pub net: Arc<Isolation>,
    /// Files copied in at their own paths before the start.
    pub inputs: Vec<PathBuf>,
    /// Directories created empty before the start.
    pub dirs: Vec<PathBuf>,
    /// The state directory, a volume of the network's.
    pub state: Option<PathBuf>,
    /// Copy the state directory back here when the daemon stops.
    pub fetch_state: bool,
    /// TCP ports the daemon listens on, published for this machine.
    pub ports: Vec<u16>,
    /// A unix socket of the daemon forwarded to the same path here.
    pub socket: Option<PathBuf>,
    /// The daemon logs to stdout: copy that to its log file.
    pub log_to_stdout: bool,
}
