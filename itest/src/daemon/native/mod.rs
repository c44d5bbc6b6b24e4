//! The native backend: daemons as processes of this machine that cannot
//! outlive the test process.

pub(crate) mod liveness;
pub(crate) mod process;

use anyhow::Result;

use crate::daemon::boundary::{Daemon, DaemonSpec, Launcher};

/// Launches daemons as child processes of this one.
#[derive(Debug)]
pub(crate) struct NativeLauncher;

impl Launcher for NativeLauncher {
    fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>> {
        Ok(Box::new(process::LocalProcess::spawn(spec)?))
    }
}
