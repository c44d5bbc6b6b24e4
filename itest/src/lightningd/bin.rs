//! What a lightningd binary supports, learnt by running it.
//!
//! Options differ between releases and builds (`--developer` breaks nodes
//! before v23.11, `--grpc-port` exists only where cln-grpc was built), so
//! the harness asks the binary it will run instead of assuming the newest
//! release.

use std::path::{Path, PathBuf};

use crate::error::{Context, FromInternal, Result};

use crate::daemon::placement::Placement;
use crate::version::Version;

/// A lightningd binary plus what we learned by running it.
#[derive(Debug, Clone)]
pub(crate) struct LightningdBin {
    /// The program: a path on this machine, or in a container the bare
    /// name `lightningd`, looked up on the image's PATH.
    pub path: PathBuf,
    pub version: Version,
    /// Output of `lightningd --help`, to detect options that exist only in
    /// some releases or builds.
    help: String,
}

impl LightningdBin {
    /// Runs `--version` and `--help` on `path` where `placement` says
    /// (cached there, per binary or image).
    pub fn inspect(placement: &Placement, path: &Path) -> Result<Self> {
        // Both at once: `--help` starts the built-in plugins for their
        // options and is the slower of the two.
        let (version_text, help) = std::thread::scope(|s| {
            let help = s.spawn(|| placement.capture(path, &["--help"]));
            let version = placement.capture(path, &["--version"]);
            (
                version,
                help.join().expect("`lightningd --help` thread panicked"),
            )
        });
        let version_text = version_text.internal()?;
        let version = Version::parse(&version_text).with_context(|| {
            format!(
                "parsing `{} --version` output {version_text:?} (run on {placement})",
                path.display()
            )
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            version,
            help: help.internal()?,
        })
    }

    /// Whether `lightningd --help` lists `--<option>`.
    pub fn has_option(&self, option: &str) -> bool {
        let needle = format!("--{option}");
        self.help.split_whitespace().any(|word| {
            word == needle
                || word.starts_with(&format!("{needle}="))
                || word.starts_with(&format!("{needle}["))
        })
    }
}
