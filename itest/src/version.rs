//! CLN release numbers, so that options can follow the binary at hand.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{bail, Result};

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
}
