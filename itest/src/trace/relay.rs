//! The relay program build.rs compiles from `shim/plugin_relay.rs`, and
//! the line of a plugin's wrapper script that starts the plugin through
//! it.

use std::path::{Path, PathBuf};

use crate::error::{bail, Result};

include!(concat!(env!("OUT_DIR"), "/plugin_relay.rs"));

/// Where traced plugins' traces are, in the node's directory: one file
/// per plugin name, appended across plugin and node restarts.
pub(crate) const TRACE_DIR: &str = "plugin-trace";

/// The relay's path, or why build.rs could not build it (its compile never
/// fails itest's build, so the reason surfaces here, when needed).
pub(crate) fn relay_binary() -> Result<PathBuf> {
    match PLUGIN_RELAY {
        Ok(path) => Ok(PathBuf::from(path)),
        Err(reason) => {
            bail!("the plugin relay (for traced plugins) was not built when itest was compiled: {reason}")
        }
    }
}

/// The trace file of the plugin named `name` (its file name) on the node
/// in `lightning_dir`.
pub(crate) fn trace_path(lightning_dir: &Path, name: &str) -> PathBuf {
    lightning_dir.join(TRACE_DIR).join(format!("{name}.trace"))
}
