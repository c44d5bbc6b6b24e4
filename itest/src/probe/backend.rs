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

/// How containers of the docker backend reach this machine, and it them.
/// See [`Conf::docker_mode`](crate::Conf::docker_mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DockerMode {
    /// `Host` where the engine runs on this Linux machine and shares its
    /// kernel (a unix socket, neither Docker Desktop nor rootless), else
    /// `Isolated`.
    #[default]
    Auto,
    /// Containers share this machine: host networking (daemons bind this
    /// machine's loopback ports) and bind mounts of its directories at the
    /// same paths. Needs an engine on this Linux machine.
    Host,
    /// Containers share nothing with this machine: a container network of
    /// each `Network`'s own, ports published and read back from the engine,
    /// files copied in and out, lightningd's RPC socket forwarded. Works
    /// with any engine: remote (`tcp://`), docker-in-docker, Docker Desktop.
    Isolated,
}

impl DockerMode {
    /// The mode `ITEST_DOCKER_MODE` asks for (`auto`, `host` or
    /// `isolated`), else `Auto`; any other value is an error naming the
    /// variable.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(DOCKER_MODE_VAR) {
            Ok(value) if !value.trim().is_empty() => {
                Self::parse(&value).map_err(|e| format!("{DOCKER_MODE_VAR}: {e}"))
            }
            _ => Ok(Self::Auto),
        }
    }

    /// `auto`, `host` or `isolated` (case-insensitive).
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "host" => Ok(Self::Host),
            "isolated" => Ok(Self::Isolated),
            other => Err(format!(
                "unknown docker mode {other:?}: expected auto, host or isolated"
            )),
        }
    }
}

impl fmt::Display for DockerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Host => "host",
            Self::Isolated => "isolated",
        })
    }
}

/// The variable choosing the docker mode ([`DockerMode`]).
pub const DOCKER_MODE_VAR: &str = "ITEST_DOCKER_MODE";

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

    #[test]
    fn parses_the_docker_modes_and_refuses_others() {
        assert_eq!(DockerMode::parse(" Isolated"), Ok(DockerMode::Isolated));
        assert_eq!(DockerMode::parse("host"), Ok(DockerMode::Host));
        assert_eq!(DockerMode::parse("AUTO"), Ok(DockerMode::Auto));
        let err = DockerMode::parse("bridge").unwrap_err();
        assert!(err.contains("bridge") && err.contains("isolated"), "{err}");
        for mode in [DockerMode::Auto, DockerMode::Host, DockerMode::Isolated] {
            assert_eq!(DockerMode::parse(&mode.to_string()), Ok(mode));
        }
    }
}
