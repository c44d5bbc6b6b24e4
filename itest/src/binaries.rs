//! Locating the daemons and reading lightningd's version.
//!
//! The lookup itself lives in `lookup.rs` (shared with build.rs, so a test
//! is ignored at compile time exactly when the run-time lookup would fail).
//! This module adds a clear error when a binary is missing and what a
//! lightningd binary supports, so options follow the binary actually used
//! instead of assuming the newest release.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, Context, Result};

pub(crate) use crate::lookup::{Tool, BITCOIND, BITCOIN_CLI, LIGHTNINGD};

/// Resolves `tool` from a configured value (a path, or a bare name looked
/// up on `PATH`), else from `PATH`; fails with the "not found: ..." message
/// that also serves as the `#[ignore]` reason.
pub(crate) fn resolve(tool: Tool, configured: Option<&Path>) -> Result<PathBuf> {
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

/// A lightningd binary plus what we learned by running it.
#[derive(Debug, Clone)]
pub(crate) struct LightningdBin {
    pub path: PathBuf,
    pub version: Version,
    /// Output of `lightningd --help`, to detect options that exist only in
    /// some releases or builds.
    help: String,
}

impl LightningdBin {
    /// Runs `--version` and `--help` on the binary at `path` (cached per
    /// path: every network of a process usually uses the same binary).
    pub fn inspect(path: &Path) -> Result<Self> {
        static CACHE: OnceLock<Mutex<Vec<LightningdBin>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(hit) = cache.lock().unwrap().iter().find(|b| b.path == path) {
            return Ok(hit.clone());
        }
        // Both at once: `--help` starts the built-in plugins for their
        // options and is the slower of the two.
        let (version_text, help) = std::thread::scope(|s| {
            let help = s.spawn(|| run_capture(path, "--help"));
            let version = run_capture(path, "--version");
            (
                version,
                help.join().expect("`lightningd --help` thread panicked"),
            )
        });
        let version_text = version_text?;
        let version = Version::parse(&version_text).with_context(|| {
            format!(
                "parsing `{} --version` output {version_text:?}",
                path.display()
            )
        })?;
        let bin = Self {
            path: path.to_path_buf(),
            version,
            help: help?,
        };
        cache.lock().unwrap().push(bin.clone());
        Ok(bin)
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

fn run_capture(bin: &Path, arg: &str) -> Result<String> {
    let out = Command::new(bin)
        .arg(arg)
        .output()
        .with_context(|| format!("running `{} {arg}`", bin.display()))?;
    // `--help` exits non-zero in some releases; its text is what matters.
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if text.trim().is_empty() {
        bail!(
            "`{} {arg}` printed nothing (exit status {})",
            bin.display(),
            out.status
        );
    }
    Ok(text)
}

/// A CLN release number such as `v23.02.2`, comparable so that options can
/// depend on "from v23.11 on".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// `23` in v23.02.2.
    pub major: u32,
    /// `2` in v23.02.2.
    pub minor: u32,
    /// `2` in v23.02.2 (0 when absent).
    pub patch: u32,
}

impl Version {
    /// `Version::new(23, 2, 2)` is v23.02.2.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Parses the first `vMAJOR.MINOR[.PATCH]` in `text`, ignoring any
    /// suffix such as `-modded` or `rc1` (git builds print those).
    pub fn parse(text: &str) -> Result<Self> {
        for word in text.split_whitespace() {
            let word = word.strip_prefix('v').unwrap_or(word);
            let mut nums = word
                .split(|c: char| !c.is_ascii_digit())
                .take(3)
                .map(|n| n.parse::<u32>().ok());
            if let (Some(Some(major)), Some(Some(minor))) = (nums.next(), nums.next()) {
                let patch = nums.next().flatten().unwrap_or(0);
                return Ok(Self::new(major, minor, patch));
            }
        }
        bail!("no version number found")
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{:02}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_and_git_versions() {
        assert_eq!(
            Version::parse("v23.02.2\n").unwrap(),
            Version::new(23, 2, 2)
        );
        assert_eq!(Version::parse("v26.06.6").unwrap(), Version::new(26, 6, 6));
        assert_eq!(
            Version::parse("v24.11.2-modded").unwrap(),
            Version::new(24, 11, 2)
        );
        assert_eq!(Version::parse("v25.12").unwrap(), Version::new(25, 12, 0));
        assert!(Version::parse("garbage").is_err());
        assert!(Version::new(23, 2, 2) < Version::new(23, 11, 0));
        assert_eq!(Version::new(23, 2, 2).to_string(), "v23.02.2");
    }

    #[test]
    fn a_configured_path_that_is_not_executable_is_named() {
        let err = resolve(LIGHTNINGD, Some(Path::new("/no/such/lightningd"))).unwrap_err();
        assert!(err.to_string().contains("/no/such/lightningd"), "{err}");
    }
}
