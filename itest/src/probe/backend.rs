//! Which backend the configuration asks each daemon to use: a local
//! process, or a Docker container. (The placement of a daemon, which acts
//! on this, is `crate::daemon::placement`.)

use std::fmt;

use super::images::{
    self, BITCOIND_IMAGE_VAR, DEFAULT_BITCOIND_IMAGE, DEFAULT_LIGHTNINGD_IMAGE,
    LIGHTNINGD_IMAGE_VAR,
};
use super::lookup::{Tool, BITCOIND, LIGHTNINGD};

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
    /// The backend `env` asks for one daemon: `specific_var`
    /// (`ITEST_BITCOIND_BACKEND` or `ITEST_LIGHTNINGD_BACKEND`), else
    /// `ITEST_BACKEND`; `None` if neither is set. A value other than
    /// `native` or `docker` is an error naming the variable.
    fn asked_in(specific_var: &str, env: &Env) -> Result<Option<Self>, String> {
        for var in [specific_var, "ITEST_BACKEND"] {
            match env(var).map(|v| v.to_string_lossy().into_owned()) {
                Some(value) if !value.trim().is_empty() => {
                    return Self::parse(&value)
                        .map(Some)
                        .map_err(|e| format!("{var}: {e}"))
                }
                _ => {}
            }
        }
        Ok(None)
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

/// One of the two daemons the harness runs, with what decides its
/// backend: a variable, else whether its binary is here, else whether the
/// Docker engine can run its image.
#[derive(Debug, Clone, Copy)]
pub struct Daemon {
    /// The variable choosing this daemon's backend (before `ITEST_BACKEND`).
    pub backend_var: &'static str,
    /// Its binary on this machine.
    pub tool: Tool,
    /// The variable naming its image.
    pub image_var: &'static str,
    /// Its image when `image_var` is unset.
    pub default_image: &'static str,
}

/// bitcoind: [`BITCOIND_BACKEND_VAR`], `BITCOIND`, `ITEST_BITCOIND_IMAGE`.
pub const BITCOIND_DAEMON: Daemon = Daemon {
    backend_var: BITCOIND_BACKEND_VAR,
    tool: BITCOIND,
    image_var: BITCOIND_IMAGE_VAR,
    default_image: DEFAULT_BITCOIND_IMAGE,
};

/// lightningd: [`LIGHTNINGD_BACKEND_VAR`], `LIGHTNINGD`,
/// `ITEST_LIGHTNINGD_IMAGE`.
pub const LIGHTNINGD_DAEMON: Daemon = Daemon {
    backend_var: LIGHTNINGD_BACKEND_VAR,
    tool: LIGHTNINGD,
    image_var: LIGHTNINGD_IMAGE_VAR,
    default_image: DEFAULT_LIGHTNINGD_IMAGE,
};

/// An environment to read variables from (the process's, or a test's).
type Env = dyn Fn(&str) -> Option<std::ffi::OsString>;

/// The backend chosen for a daemon, and what a user should be told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Where the daemon runs.
    pub backend: Backend,
    /// Set when no variable asked for a backend and the binary was not
    /// found here, so a container stands in: the one line that says so.
    pub automatic: Option<String>,
    /// Set when no variable asked, the binary is not here and no container
    /// can stand in: why not, as one line (its tests skip with it).
    pub missing: Option<String>,
}

impl Daemon {
    /// The image it runs from in a container.
    pub fn image(&self) -> String {
        images::from_env(self.image_var, self.default_image)
    }

    /// Chooses the backend: the one a variable asks for; else natively,
    /// where the binary is found here or its variable (`LIGHTNINGD`, ...)
    /// names one; else in a container, where
    /// `container(image)` says the engine answers and has (or can pull)
    /// the image; else natively, with why neither works in
    /// [`Choice::missing`]. Only a misspelt variable is an error.
    pub fn choose(
        &self,
        container: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<Choice, String> {
        self.choose_in(&|v| std::env::var_os(v), container)
    }

    /// [`Daemon::choose`] with `env` as the environment.
    fn choose_in(
        &self,
        env: &Env,
        container: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<Choice, String> {
        if let Some(backend) = Backend::asked_in(self.backend_var, env)? {
            return Ok(Choice {
                backend,
                automatic: None,
                missing: None,
            });
        }
        let named = env(self.tool.env).filter(|v| !v.is_empty());
        let explicit = named.is_some();
        let found = self.tool.find(named, env("PATH"));
        let Err(not_here) = found else {
            return Ok(Choice {
                backend: Backend::Native,
                automatic: None,
                missing: None,
            });
        };
        // A binary named by its variable is asked for natively: a wrong
        // path is a mistake to report, not a reason to use a container.
        if explicit {
            return Ok(Choice {
                backend: Backend::Native,
                automatic: None,
                missing: Some(not_here),
            });
        }
        let image = self.image();
        Ok(match container(&image) {
            Ok(()) => Choice {
                backend: Backend::Docker,
                automatic: Some(format!(
                    "no {name} on this machine ({not_here}), so {name} runs in containers from image {image} (set {var}=native or ITEST_BACKEND=native to refuse that)",
                    name = self.tool.name,
                    var = self.backend_var,
                )),
                missing: None,
            },
            Err(why) => Choice {
                backend: Backend::Native,
                automatic: None,
                missing: Some(format!(
                    "{not_here}; nor can it run in a container instead: {why}"
                )),
            },
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

    /// An environment of `vars` only.
    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.into())
    }

    #[test]
    fn a_daemon_runs_natively_where_found_else_in_a_container_that_can_run_it() {
        let bin = tempfile::tempdir().unwrap();
        let lightningd = bin.path().join("lightningd");
        std::fs::write(&lightningd, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&lightningd, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = bin.path().display().to_string();
        let found = LIGHTNINGD_DAEMON
            .choose_in(&env_of(&[("PATH", &path)]), |_| {
                panic!("no engine is asked when the binary is here")
            })
            .unwrap();
        assert_eq!(
            (found.backend, found.automatic, found.missing),
            (Backend::Native, None, None)
        );

        let nowhere = env_of(&[("PATH", "/nonexistent")]);
        let docker = LIGHTNINGD_DAEMON.choose_in(&nowhere, |_| Ok(())).unwrap();
        assert_eq!(docker.backend, Backend::Docker);
        let note = docker.automatic.unwrap();
        assert!(
            note.contains("runs in containers from image")
                && note.contains("ITEST_LIGHTNINGD_BACKEND=native"),
            "{note}"
        );

        let neither = LIGHTNINGD_DAEMON
            .choose_in(&nowhere, |_| Err("no engine".into()))
            .unwrap();
        assert_eq!(neither.backend, Backend::Native);
        let missing = neither.missing.unwrap();
        assert!(
            missing.contains("not found on PATH") && missing.contains("no engine"),
            "{missing}"
        );
    }

    #[test]
    fn a_variable_decides_and_a_named_binary_is_never_replaced_by_a_container() {
        let asked = env_of(&[("ITEST_BACKEND", "docker"), ("PATH", "/nonexistent")]);
        let docker = BITCOIND_DAEMON
            .choose_in(&asked, |_| panic!("not probed"))
            .unwrap();
        assert_eq!((docker.backend, docker.automatic), (Backend::Docker, None));

        let wrong = env_of(&[
            ("LIGHTNINGD", "/no/such/lightningd"),
            ("PATH", "/nonexistent"),
        ]);
        let native = LIGHTNINGD_DAEMON.choose_in(&wrong, |_| Ok(())).unwrap();
        assert_eq!(native.backend, Backend::Native);
        assert!(native
            .missing
            .unwrap()
            .contains("LIGHTNINGD=/no/such/lightningd"));

        let misspelt = env_of(&[("ITEST_LIGHTNINGD_BACKEND", "dokcer")]);
        let err = LIGHTNINGD_DAEMON
            .choose_in(&misspelt, |_| Ok(()))
            .unwrap_err();
        assert!(
            err.contains("ITEST_LIGHTNINGD_BACKEND") && err.contains("dokcer"),
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
