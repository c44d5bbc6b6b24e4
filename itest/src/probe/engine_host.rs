//! Which Docker engine address to use: the one testcontainers 0.28 connects
//! to, found the same way, so that the build-time probe, the engine client
//! the harness makes itself and testcontainers never disagree.
//!
//! testcontainers (`core/env/config.rs`, with its `properties-config`
//! feature, which itest enables) takes the first of:
//! 1. `tc.host` in `~/.testcontainers.properties`;
//! 2. `DOCKER_HOST` (set, even if empty);
//! 3. `docker.host` in `~/.testcontainers.properties`;
//! 4. the first of these sockets that exists: `/var/run/docker.sock`,
//!    `$XDG_RUNTIME_DIR/.docker/run/docker.sock` (only an absolute
//!    `XDG_RUNTIME_DIR`), `~/.docker/run/docker.sock` (Docker Desktop on
//!    macOS), `~/.docker/desktop/docker.sock` (Docker Desktop on Linux);
//! 5. `unix:///var/run/docker.sock`.
//!
//! It reads no Docker CLI context (`docker context use`), and not the
//! rootless engine's usual `$XDG_RUNTIME_DIR/docker.sock`: for those, set
//! `DOCKER_HOST`. What it then cannot connect to is refused here with the
//! reason: an empty `DOCKER_HOST`, a scheme other than `unix://`, `tcp://`
//! or `http://` (itest builds testcontainers without TLS, so `https://`
//! and `DOCKER_TLS_VERIFY=1` cannot work), and a properties file it would
//! fail to read.

use std::path::{Path, PathBuf};

use super::properties;

/// The file testcontainers reads in the home directory.
pub const PROPERTIES_FILE: &str = ".testcontainers.properties";

/// The environment variables the address depends on (build.rs watches
/// them).
#[allow(dead_code)]
pub const VARS: [&str; 4] = [
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "HOME",
    "XDG_RUNTIME_DIR",
];

/// What the address is read from, so that tests can give a fake machine.
pub trait Lookup {
    /// An environment variable (`None` when unset; `Some("")` when empty).
    fn var(&self, name: &str) -> Option<String>;
    /// The home directory, as `std::env::home_dir` finds it.
    fn home(&self) -> Option<PathBuf>;
    /// A file's text, `None` when it cannot be read.
    fn read(&self, path: &Path) -> Option<String>;
    /// Whether a path exists.
    fn exists(&self, path: &Path) -> bool;
}

/// The real environment and filesystem.
#[derive(Debug, Clone, Copy)]
pub struct ThisMachine;

impl Lookup for ThisMachine {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn home(&self) -> Option<PathBuf> {
        // What testcontainers' `etcetera::home_dir` calls.
        #[allow(deprecated)]
        std::env::home_dir()
    }
    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// The engine address and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// `unix:///path` or `tcp://host:port` (`http://` too).
    pub host: String,
    /// Where it came from, for messages: `DOCKER_HOST`, `tc.host in
    /// /home/u/.testcontainers.properties`, ...
    pub source: String,
}

impl Located {
    /// Whether the engine is reached over TCP (so it may run anywhere).
    pub fn is_tcp(&self) -> bool {
        self.host.starts_with("tcp://") || self.host.starts_with("http://")
    }
}

/// The sockets testcontainers looks for, in order, when no address is set.
pub fn candidate_sockets(machine: &impl Lookup) -> Vec<PathBuf> {
    let mut sockets = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(runtime) = machine
        .var("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        sockets.push(runtime.join(".docker/run/docker.sock"));
    }
    if let Some(home) = machine.home() {
        sockets.push(home.join(".docker/run/docker.sock"));
        sockets.push(home.join(".docker/desktop/docker.sock"));
    }
    sockets
}

/// The properties file's path, if there is a home directory.
pub fn properties_path(machine: &impl Lookup) -> Option<PathBuf> {
    machine.home().map(|home| home.join(PROPERTIES_FILE))
}

/// The engine address testcontainers would use on `machine`, or why it
/// could not connect there (one line, with what to do).
pub fn locate(machine: &impl Lookup) -> Result<Located, String> {
    let file = properties_path(machine);
    let props = file.as_deref().and_then(|f| {
        machine
            .read(f)
            .map(|t| (f.to_path_buf(), properties::parse(&t)))
    });
    let prop = |key: &str| -> Option<(String, String)> {
        let (path, pairs) = props.as_ref()?;
        let value = properties::get(pairs, key)?;
        Some((value.to_string(), format!("{key} in {}", path.display())))
    };
    if let Some((path, pairs)) = &props {
        // testcontainers reads `docker.tls.verify` as 0 or 1 and fails on
        // anything else.
        if let Some(v) = properties::get(pairs, "docker.tls.verify") {
            if v != "0" && v != "1" {
                return Err(format!(
                    "{}: docker.tls.verify is {v:?}; testcontainers reads only 0 or 1 there and fails on anything else",
                    path.display()
                ));
            }
        }
    }
    let tls = machine.var("DOCKER_TLS_VERIFY").is_some_and(|v| v == "1")
        || prop("docker.tls.verify").is_some_and(|(v, _)| v == "1");
    let set = prop("tc.host")
        .or_else(|| {
            machine
                .var("DOCKER_HOST")
                .map(|h| (h, "DOCKER_HOST".to_string()))
        })
        .or_else(|| prop("docker.host"));
    let located = match set {
        Some((host, source)) => Located { host, source },
        None => {
            let found = candidate_sockets(machine)
                .into_iter()
                .find(|s| machine.exists(s));
            match found {
                Some(socket) => Located {
                    host: format!("unix://{}", socket.display()),
                    source: format!("{} exists", socket.display()),
                },
                None => Located {
                    host: "unix:///var/run/docker.sock".into(),
                    source: "the default (no DOCKER_HOST, no ~/.testcontainers.properties, no known socket)".into(),
                },
            }
        }
    };
    check(&located, tls)?;
    Ok(located)
}

/// Refuses what testcontainers (as itest builds it) cannot connect to.
fn check(located: &Located, tls: bool) -> Result<(), String> {
    let Located { host, source } = located;
    if host.trim().is_empty() {
        return Err(format!(
            "{source} is set but empty: unset it, or name an engine such as unix:///var/run/docker.sock or tcp://host:2375"
        ));
    }
    let scheme = host.split_once("://").map(|(s, _)| s);
    match scheme {
        Some("unix") | Some("tcp") | Some("http") => {}
        Some("https") => {
            return Err(format!(
                "the Docker engine {host} (from {source}) needs TLS, which itest builds testcontainers without: reach the engine over tcp:// or a unix socket"
            ))
        }
        _ => {
            return Err(format!(
                "the Docker engine address {host:?} (from {source}) is not one testcontainers can use: expected unix:///path/to/docker.sock or tcp://host:port"
            ))
        }
    }
    if tls && scheme != Some("unix") {
        return Err(format!(
            "DOCKER_TLS_VERIFY=1 (or docker.tls.verify=1) asks for TLS to {host}, which itest builds testcontainers without: reach the engine without TLS, or unset it"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// A machine made of maps.
    #[derive(Default)]
    struct Fake {
        vars: HashMap<&'static str, String>,
        home: Option<PathBuf>,
        files: HashMap<PathBuf, String>,
        existing: HashSet<PathBuf>,
    }

    impl Lookup for Fake {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn home(&self) -> Option<PathBuf> {
            self.home.clone()
        }
        fn read(&self, path: &Path) -> Option<String> {
            self.files.get(path).cloned()
        }
        fn exists(&self, path: &Path) -> bool {
            self.existing.contains(path) || self.files.contains_key(path)
        }
    }

    fn home() -> Fake {
        Fake {
            home: Some("/home/u".into()),
            ..Fake::default()
        }
    }

    fn with_properties(mut fake: Fake, text: &str) -> Fake {
        fake.files
            .insert("/home/u/.testcontainers.properties".into(), text.into());
        fake
    }

    fn host(fake: &Fake) -> String {
        locate(fake).unwrap().host
    }

    #[test]
    fn tc_host_beats_docker_host_which_beats_docker_host_property() {
        let mut fake =
            with_properties(home(), "tc.host=tcp\\://tc:1\ndocker.host=tcp\\://prop:3\n");
        fake.vars.insert("DOCKER_HOST", "tcp://env:2".into());
        let found = locate(&fake).unwrap();
        assert_eq!(found.host, "tcp://tc:1");
        assert_eq!(
            found.source,
            "tc.host in /home/u/.testcontainers.properties"
        );

        let mut fake = with_properties(home(), "docker.host=tcp://prop:3\n");
        fake.vars.insert("DOCKER_HOST", "tcp://env:2".into());
        assert_eq!(locate(&fake).unwrap().source, "DOCKER_HOST");
        assert_eq!(host(&fake), "tcp://env:2");

        let fake = with_properties(home(), "docker.host=tcp://prop:3\n");
        assert_eq!(host(&fake), "tcp://prop:3");
    }

    #[test]
    fn sockets_are_tried_in_testcontainers_order() {
        let mut fake = home();
        fake.vars.insert("XDG_RUNTIME_DIR", "/run/user/7".into());
        for socket in [
            "/home/u/.docker/desktop/docker.sock",
            "/home/u/.docker/run/docker.sock",
            "/run/user/7/.docker/run/docker.sock",
            "/var/run/docker.sock",
        ] {
            // Each added socket comes earlier in the order and wins.
            fake.existing.insert(socket.into());
            let found = locate(&fake).unwrap();
            assert_eq!(found.host, format!("unix://{socket}"));
            assert_eq!(found.source, format!("{socket} exists"));
        }
    }

    #[test]
    fn a_relative_runtime_dir_and_the_rootless_default_socket_are_not_looked_at() {
        let mut fake = home();
        fake.vars.insert("XDG_RUNTIME_DIR", "run/user/7".into());
        fake.existing
            .insert("run/user/7/.docker/run/docker.sock".into());
        // Where rootless dockerd puts its socket; testcontainers does not
        // look there.
        fake.existing.insert("/run/user/7/docker.sock".into());
        let found = locate(&fake).unwrap();
        assert_eq!(found.host, "unix:///var/run/docker.sock");
        assert!(found.source.starts_with("the default"), "{found:?}");
    }

    #[test]
    fn what_testcontainers_cannot_use_is_refused_with_the_reason() {
        let mut empty = home();
        empty.vars.insert("DOCKER_HOST", String::new());
        let err = locate(&empty).unwrap_err();
        assert!(err.contains("DOCKER_HOST is set but empty"), "{err}");

        let mut https = home();
        https.vars.insert("DOCKER_HOST", "https://h:2376".into());
        assert!(locate(&https).unwrap_err().contains("TLS"));

        let mut ssh = home();
        ssh.vars.insert("DOCKER_HOST", "ssh://me@h".into());
        let err = locate(&ssh).unwrap_err();
        assert!(
            err.contains("ssh://me@h") && err.contains("tcp://"),
            "{err}"
        );

        let mut tls = home();
        tls.vars.insert("DOCKER_HOST", "tcp://h:2376".into());
        tls.vars.insert("DOCKER_TLS_VERIFY", "1".into());
        assert!(locate(&tls).unwrap_err().contains("DOCKER_TLS_VERIFY"));

        let bad = with_properties(home(), "docker.tls.verify=true\n");
        let err = locate(&bad).unwrap_err();
        assert!(
            err.contains("docker.tls.verify") && err.contains(".testcontainers.properties"),
            "{err}"
        );

        for err in [
            locate(&empty).unwrap_err(),
            locate(&ssh).unwrap_err(),
            locate(&bad).unwrap_err(),
        ] {
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn without_a_home_only_the_environment_and_the_system_socket_count() {
        let mut fake = Fake::default();
        assert_eq!(host(&fake), "unix:///var/run/docker.sock");
        fake.vars.insert("DOCKER_HOST", "tcp://env:2".into());
        assert_eq!(host(&fake), "tcp://env:2");
        assert!(locate(&fake).unwrap().is_tcp());
    }
}
