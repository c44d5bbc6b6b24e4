//! What a lightningd binary supports, learnt by running it.
//!
//! Options differ between releases and builds (`--developer` breaks nodes
//! before v23.11, `--grpc-port` exists only where cln-grpc was built), so
//! the harness asks the binary it will run instead of assuming the newest
//! release.

use std::path::{Path, PathBuf};

use crate::conf::{Conf, NodeConf};
use crate::daemon::placement::{Placement, Sites};
use crate::error::{Context, FromInternal, Result};
use crate::probe::lookup::LIGHTNINGD;
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

    /// What `lightningd --help` printed.
    pub fn help(&self) -> &str {
        &self.help
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

/// The lightningd a node would run, found and read without a node: its
/// program, version and `--help`, for tests of option listings and of
/// what a release supports. Natively it is the binary itest would run; on
/// the docker backend, `lightningd` in [`Conf::lightningd_image`], run in a
/// throw-away container. Both outputs are read once per binary or image
/// and process.
///
/// ```no_run
/// use cln_itest::{Conf, Lightningd};
///
/// let lightningd = Lightningd::of(&Conf::default()).unwrap();
/// println!("{} at {}", lightningd.version(), lightningd.program().display());
/// assert!(lightningd.has_option("log-level"));
/// ```
#[derive(Debug, Clone)]
pub struct Lightningd {
    bin: LightningdBin,
    placement: String,
}

impl Lightningd {
    /// The lightningd of a node of `conf` without its own
    /// ([`Conf::lightningd`], `LIGHTNINGD`, `PATH`, or the image).
    pub fn of(conf: &Conf) -> Result<Self> {
        Self::of_node(conf, &NodeConf::default())
    }

    /// The lightningd that `node` of a network built from `conf` would run.
    pub fn of_node(conf: &Conf, node: &NodeConf) -> Result<Self> {
        let root = conf.tmp_root.clone().unwrap_or_else(std::env::temp_dir);
        let placement = Sites::for_inspection(conf)
            .lightningd(conf, node, &root)
            .internal()?;
        let program = placement
            .program(
                LIGHTNINGD,
                conf.lightningd.as_deref(),
                node.lightningd.as_deref(),
            )
            .internal()?;
        Ok(Self {
            bin: LightningdBin::inspect(&placement, &program)?,
            placement: placement.to_string(),
        })
    }

    /// The program: a path on this machine, or in a container its name on
    /// the image's PATH.
    pub fn program(&self) -> &Path {
        &self.bin.path
    }

    /// Its release, from `--version`.
    pub fn version(&self) -> Version {
        self.bin.version
    }

    /// What `lightningd --help` printed (the option listing).
    pub fn help(&self) -> &str {
        self.bin.help()
    }

    /// Whether `--help` lists `--<option>` (give it without the dashes).
    pub fn has_option(&self, option: &str) -> bool {
        self.bin.has_option(option.trim_start_matches('-'))
    }

    /// Where it runs: "this machine", or "containers from" and the image.
    pub fn runs_on(&self) -> &str {
        &self.placement
    }
}
