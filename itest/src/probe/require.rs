//! What `ITEST_REQUIRE` asks for: the backends whose tests must run, so
//! that a missing part fails them instead of skipping them.
//!
//! `1` means "what the chosen backends need": a nix shell (native daemons,
//! no Docker engine) sets it and still goes green, its container tests
//! listed as ignored. A list (`native`, `docker`, `native,docker`, `all`)
//! names the backends outright, for CI that proves the container path too.
//!
//! PostgreSQL nodes need two more things: PostgreSQL's server programs,
//! which `1` requires too (an install away, like a daemon), and a
//! lightningd built with the PostgreSQL driver, which only `postgres` in
//! the list (or `all`) requires: a release built without it (nixpkgs'
//! 23.02 is) is a property of the binary under test, not a missing
//! install, so under `1` its PostgreSQL tests stay ignored, saying so.
//!
//! Only build.rs acts on it; the library compiles it for its tests.
#![allow(dead_code)]

use super::backend::Backend;

/// The variable.
pub const REQUIRE_VAR: &str = "ITEST_REQUIRE";

/// The backends whose tests may not be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Required {
    /// Tests of daemons on this machine.
    pub native: bool,
    /// Tests of daemons in containers (the Docker engine and its images).
    pub docker: bool,
    /// Tests of PostgreSQL nodes, whatever PostgreSQL's server programs.
    pub postgres: bool,
    /// Tests of PostgreSQL nodes, whatever lightningd's build too.
    pub postgres_driver: bool,
}

impl Required {
    /// [`Required::parse`] of `ITEST_REQUIRE`.
    pub fn from_env(chosen: &[Backend]) -> Result<Self, String> {
        Self::parse(&std::env::var(REQUIRE_VAR).unwrap_or_default(), chosen)
            .map_err(|e| format!("{REQUIRE_VAR}: {e}"))
    }

    /// Unset, empty or `0`: nothing; `1`: the `chosen` backends (those of
    /// bitcoind and lightningd) and PostgreSQL's server programs; else a
    /// comma-separated list of `native`, `docker`, `postgres` (the server
    /// programs and a lightningd with the driver) and `all`.
    pub fn parse(value: &str, chosen: &[Backend]) -> Result<Self, String> {
        let mut required = Self::default();
        match value.trim() {
            "" | "0" => {}
            "1" => {
                for backend in chosen {
                    required.add(*backend);
                }
                required.postgres = true;
            }
            list => {
                for item in list.split(',').map(|i| i.trim().to_ascii_lowercase()) {
                    match item.as_str() {
                        "all" => {
                            required.add(Backend::Native);
                            required.add(Backend::Docker);
                            required.postgres = true;
                            required.postgres_driver = true;
                        }
                        "postgres" => {
                            required.postgres = true;
                            required.postgres_driver = true;
                        }
                        other => required.add(Backend::parse(other).map_err(|_| {
                            format!(
                                "unknown value {value:?}: expected 1 (what the chosen backends need), 0, or a list of native, docker, postgres, all"
                            )
                        })?),
                    }
                }
            }
        }
        Ok(required)
    }

    fn add(&mut self, backend: Backend) {
        match backend {
            Backend::Native => self.native = true,
            Backend::Docker => self.docker = true,
        }
    }

    /// Whether tests on `backend` must run.
    pub fn backend(&self, backend: Backend) -> bool {
        match backend {
            Backend::Native => self.native,
            Backend::Docker => self.docker,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIVE: &[Backend] = &[Backend::Native, Backend::Native];

    #[test]
    fn one_requires_only_the_chosen_backends() {
        let native_only = Required::parse("1", NATIVE).unwrap();
        assert!(native_only.native && !native_only.docker);
        // The server programs are an install away; the driver is not.
        assert!(native_only.postgres && !native_only.postgres_driver);
        let mixed = Required::parse("1", &[Backend::Docker, Backend::Native]).unwrap();
        assert!(mixed.native && mixed.docker);
    }

    #[test]
    fn lists_name_backends_outright() {
        let both = Required::parse(" native, Docker ", NATIVE).unwrap();
        assert!(both.native && both.docker && !both.postgres);
        let all = Required::parse("all", NATIVE).unwrap();
        assert_eq!(
            all,
            Required::parse("native,docker,postgres", NATIVE).unwrap()
        );
        assert!(all.postgres && all.postgres_driver);
        let docker = Required::parse("docker", NATIVE).unwrap();
        assert!(!docker.native && docker.docker);
        assert_eq!(Required::parse("0", NATIVE).unwrap(), Required::default());
        assert_eq!(Required::parse("", NATIVE).unwrap(), Required::default());
    }

    #[test]
    fn refuses_a_misspelt_value_naming_it() {
        let err = Required::parse("yes", NATIVE).unwrap_err();
        assert!(
            err.contains("\"yes\"") && err.contains("native, docker, postgres, all"),
            "{err}"
        );
    }
}
