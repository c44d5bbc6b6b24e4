//! Which backend the configuration asks each daemon to use: a local
//! process, or a Docker container. (The placement of a daemon, which acts
//! on this, is `crate::daemon::placement`.)

use std::fmt;

/// Where a daemon runs. See [`Conf::bitcoind_backend`] and
/// [`Conf::lightningd_backend`].
///
/// [`Conf::bitcoind_backend`]: crate::Conf::bitcoind_backend
/// [`Conf::lightningd_backend`]: crate::Conf::lightningd_backend
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// A child process of the test, from a binary on this machine.
    #[default]
    Native,
    /// A container from an image, through the Docker engine at
    /// `DOCKER_HOST` (default `unix:///var/run/docker.sock`).
    Docker,
}

impl Backend {
    /// The backend the environment asks for one daemon: `specific_var`
    /// (`ITEST_BITCOIND_BACKEND` or `ITEST_LIGHTNINGD_BACKEND`), else
    /// `ITEST_BACKEND`, else native. A value other than `native` or
    /// `docker` is an error naming the variable.
    pub(crate) fn from_env(specific_var: &str) -> Result<Self, String> {
        for var in [specific_var, "ITEST_BACKEND"] {
            match std::env::var(var) {
                Ok(value) if !value.trim().is_empty() => {
                    return Self::parse(&value).map_err(|e| format!("{var}: {e}"))
                }
                _ => {}
            }
        }
        Ok(Self::Native)
    }

    /// `native` or `docker` (case-insensitive).
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "native" => Ok(Self::Native),
            "docker" => Ok(Self::Docker),
            other => Err(format!(
                "unknown backend {other:?}: expected native or docker"
            )),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Docker => "docker",
        })
    }
}

/// The variable choosing bitcoind's backend (before `ITEST_BACKEND`).
pub const BITCOIND_BACKEND_VAR: &str = "ITEST_BITCOIND_BACKEND";
/// The variable choosing lightningd's backend (before `ITEST_BACKEND`).
pub const LIGHTNINGD_BACKEND_VAR: &str = "ITEST_LIGHTNINGD_BACKEND";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_names_and_refuses_others() {
        assert_eq!(Backend::parse("docker"), Ok(Backend::Docker));
        assert_eq!(Backend::parse(" Native "), Ok(Backend::Native));
        let err = Backend::parse("dokcer").unwrap_err();
        assert!(
            err.contains("dokcer") && err.contains("native or docker"),
            "{err}"
        );
    }
}
