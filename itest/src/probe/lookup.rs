//! Where the daemons' binaries are looked up on this machine: a variable
//! naming the binary, else `PATH`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One daemon binary the harness needs: its file name and the environment
/// variable that overrides the PATH lookup.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// File name searched on PATH, e.g. `lightningd`.
    pub name: &'static str,
    /// Environment variable holding an explicit path, e.g. `LIGHTNINGD`.
    pub env: &'static str,
}

pub const LIGHTNINGD: Tool = Tool {
    name: "lightningd",
    env: "LIGHTNINGD",
};
pub const BITCOIND: Tool = Tool {
    name: "bitcoind",
    env: "BITCOIND",
};
pub const BITCOIN_CLI: Tool = Tool {
    name: "bitcoin-cli",
    env: "BITCOIN_CLI",
};

impl Tool {
    /// The message shown when the tool is missing: both as the `ignore`
    /// reason (build.rs) and as the error at run time. Names what was
    /// tried: the variable's value, or the `PATH` searched.
    pub fn missing_message(&self, env_value: Option<&OsString>) -> String {
        let name = self.name;
        let env = self.env;
        match env_value.filter(|v| !v.is_empty()) {
            Some(value) => format!(
                "{env}={} is not an executable file{}: fix {env}, or unset it to use the {name} on PATH",
                value.to_string_lossy(),
                if PathBuf::from(value).components().count() > 1 { "" } else { " on PATH" },
            ),
            None => format!(
                "{name} not found on PATH ({env} unset): run inside `nix develop`, put {name} on PATH, or set {env}=/path/to/{name}"
            ),
        }
    }

    /// [`Tool::resolve`], or why not ([`Tool::missing_message`]).
    pub fn find(
        &self,
        env_value: Option<OsString>,
        path_var: Option<OsString>,
    ) -> Result<PathBuf, String> {
        self.resolve(env_value.clone(), path_var)
            .ok_or_else(|| self.missing_message(env_value.as_ref()))
    }

    /// Resolves the tool: the env variable wins (a bare name in it is looked
    /// up on PATH), otherwise the first executable `name` on PATH.
    pub fn resolve(
        &self,
        env_value: Option<OsString>,
        path_var: Option<OsString>,
    ) -> Option<PathBuf> {
        match env_value.filter(|v| !v.is_empty()) {
            Some(value) => {
                let candidate = PathBuf::from(&value);
                if candidate.components().count() > 1 {
                    is_executable(&candidate).then_some(candidate)
                } else {
                    search_path(candidate.as_os_str(), path_var)
                }
            }
            None => search_path(self.name.as_ref(), path_var),
        }
    }
}

/// The directories on PATH that exist (build.rs watches them so that a
/// binary installed or removed later triggers a rebuild).
pub fn path_dirs(path_var: Option<OsString>) -> Vec<PathBuf> {
    path_var
        .map(|p| std::env::split_paths(&p).filter(|d| d.is_dir()).collect())
        .unwrap_or_default()
}

/// The first executable `name` in the directories of `path_var`.
pub fn search_path(name: &std::ffi::OsStr, path_var: Option<OsString>) -> Option<PathBuf> {
    path_dirs(path_var)
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
