//! The native backend: daemons as processes of this machine that cannot
//! outlive the test process.

pub(crate) mod guard;
pub(crate) mod liveness;
pub(crate) mod process;

use anyhow::Result;

use crate::daemon::boundary::{Daemon, DaemonSpec, Launcher};
use crate::daemon::native::guard::OrphanGuard;

/// Launches daemons as child processes of this one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NativeLauncher {
    /// How each daemon dies if the test process is SIGKILLed.
    pub guard: OrphanGuard,
}

impl Launcher for NativeLauncher {
    fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>> {
        Ok(Box::new(process::LocalProcess::spawn(spec, self.guard)?))
    }
}
