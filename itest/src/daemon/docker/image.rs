//! Image references (`name:tag`).

use std::fmt;
use std::str::FromStr;

use anyhow::{anyhow, bail, Result};

use crate::probe::images::DEFAULT_LIGHTNINGD_IMAGE;

/// A Docker image reference, `name:tag` (the name may include a registry
/// host and port, e.g. `localhost:5000/itest-bitcoind:sid-abc`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    name: String,
    tag: String,
}

impl ImageRef {
    /// The repository part, without the tag.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl FromStr for ImageRef {
    type Err = anyhow::Error;

    /// Parses `name:tag`. The tag is required: an implicit `latest` would
    /// make a test depend on whatever was pulled last.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.contains('@') {
            bail!("image {s:?}: digests are not supported, use name:tag");
        }
        // A ':' before the last '/' belongs to a registry's port.
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        match s[last_slash..].rfind(':') {
            Some(i) if i > 0 && last_slash + i + 1 < s.len() => {
                let split = last_slash + i;
                Ok(Self {
                    name: s[..split].to_string(),
                    tag: s[split + 1..].to_string(),
                })
            }
            _ => {
                bail!("image {s:?} has no tag: expected name:tag, e.g. {DEFAULT_LIGHTNINGD_IMAGE}")
            }
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// Explains a failed start of `what` from `image`, with a hint when the
/// image is the likely cause (or the engine's reason when it is gone).
pub(crate) fn start_error_text(
    what: &str,
    image: &ImageRef,
    err: &testcontainers::TestcontainersError,
) -> anyhow::Error {
    if let Err(reason) = crate::probe::engine::check() {
        return anyhow!("{what}: {reason}");
    }
    let text = format!("{err}");
    let hint = if text.contains("pull") || text.contains("No such image") {
        format!(
            "\nhint: {image} is not in the local image store and could not be pulled; on a machine without a registry build one with scripts/images.sh (see itest/README.md, \"Backends and images\") and name it in ITEST_BITCOIND_IMAGE / ITEST_LIGHTNINGD_IMAGE"
        )
    } else {
        String::new()
    };
    anyhow!("{what}: {text}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::images::DEFAULT_BITCOIND_IMAGE;

    #[test]
    fn parses_names_tags_and_registry_ports() {
        let r: ImageRef = "elementsproject/lightningd:v26.06.6".parse().unwrap();
        assert_eq!(
            (r.name(), r.tag()),
            ("elementsproject/lightningd", "v26.06.6")
        );
        let r: ImageRef = "localhost:5000/x/y:t1".parse().unwrap();
        assert_eq!((r.name(), r.tag()), ("localhost:5000/x/y", "t1"));
        assert_eq!(r.to_string(), "localhost:5000/x/y:t1");
        for bad in ["bitcoind", "localhost:5000/x", "x:", ":t", "x@sha256:00"] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad} must be refused");
        }
        for default in [DEFAULT_BITCOIND_IMAGE, DEFAULT_LIGHTNINGD_IMAGE] {
            default.parse::<ImageRef>().unwrap();
        }
    }
}
