//! What this repository's own tests need beyond the library: the plugin
//! under test (`myplugin`), the fixture plugins and the workspace paths.
//! The library knows nothing of them; an outside crate would have its own.
#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

/// Absolute path of the plugin under test: `MYPLUGIN` if set, else the
/// workspace's `myplugin` binary (built once per test process with the
/// cargo that runs the tests). `MYPLUGIN=/abs/path` points the suite at any
/// other executable (a Python implementation, a deliberately broken one).
pub fn myplugin() -> PathBuf {
    under_test().expect("locating the plugin under test")
}

fn under_test() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    if let Some(path) = std::env::var_os("MYPLUGIN").filter(|v| !v.is_empty()) {
        return check_executable(Path::new(&path)).context("MYPLUGIN");
    }
    BUILT
        .get_or_init(|| build_workspace_plugin().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// The file name lightningd uses to refer to a plugin (`plugin stop`
/// replies with it), e.g. `myplugin` or `myplugin.py`.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `itest/tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// The workspace root (the parent of the itest crate).
pub fn workspace_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the itest crate lives inside the workspace")
}

/// The workspace's cargo target dir: `CARGO_TARGET_DIR` (relative to the
/// workspace if relative), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    let workspace = workspace_dir();
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

fn check_executable(path: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if !path.is_absolute() {
        bail!("{} is not an absolute path", path.display());
    }
    let meta =
        std::fs::metadata(path).with_context(|| format!("{} does not exist", path.display()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        bail!("{} is not an executable file", path.display());
    }
    Ok(path.to_path_buf())
}

/// `cargo build -p plugin --bin myplugin` in this workspace, then the path
/// of the result. Nested cargo is safe: the outer `cargo test` has released
/// the build lock once tests run.
fn build_workspace_plugin() -> Result<PathBuf> {
    let workspace = workspace_dir();
    let target_dir = target_dir();
    let cargo = env!("CARGO");
    // Written to the real stderr: libtest's capture would hide eprintln!.
    let _ = writeln!(
        std::io::stderr(),
        "itest: building the plugin under test: {cargo} build -p plugin --bin myplugin (in {}; set MYPLUGIN to test another executable)",
        workspace.display()
    );
    let status = Command::new(cargo)
        .args(["build", "-p", "plugin", "--bin", "myplugin"])
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .with_context(|| format!("running {cargo} build"))?;
    if !status.success() {
        bail!("`cargo build -p plugin --bin myplugin` failed ({status}); see its output above");
    }
    let bin = target_dir.join("debug").join("myplugin");
    check_executable(&bin).context("after cargo build")
}
