//! Getting the subjects ready: our plugin (release build), the cln-plugin
//! peer (its own manifest and target dir), the Python venv (pinned
//! requirements) and launchers for the Python peers.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Paths the bench works with.
pub struct Paths {
    pub workspace: PathBuf,
    pub bench_dir: PathBuf,
    /// `<target>/bench`: venv, peer builds, launchers, results.
    pub out: PathBuf,
}

impl Paths {
    pub fn discover() -> Result<Self> {
        let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let workspace = bench_dir
            .parent()
            .context("the bench crate lives inside the workspace")?
            .to_path_buf();
        // `CARGO_TARGET_DIR` (relative to the workspace if relative), else
        // `<workspace>/target`.
        let target = match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
            Some(dir) if dir.is_absolute() => dir,
            Some(dir) => workspace.join(dir),
            None => workspace.join("target"),
        };
        let out = target.join("bench");
        std::fs::create_dir_all(&out)?;
        Ok(Self {
            workspace,
            bench_dir,
            out,
        })
    }

    pub fn target(&self) -> PathBuf {
        self.out
            .parent()
            .expect("out is <target>/bench")
            .to_path_buf()
    }

    pub fn venv_python(&self) -> PathBuf {
        self.out.join("venv").join("bin").join("python3")
    }
}

/// One plugin implementing the myplugin contract.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Short key used in the JSON file.
    pub key: &'static str,
    /// Column label in the table.
    pub label: &'static str,
    /// Absolute path given to `plugin start`.
    pub path: PathBuf,
}

impl Peer {
    /// What `plugin stop` takes: the file name.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    eprintln!("bench: {what}: {cmd:?}");
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Builds and prepares every subject; returns them with ours first.
pub fn prepare(paths: &Paths) -> Result<Vec<Peer>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(
        Command::new(&cargo)
            .args(["build", "-p", "plugin", "--release", "--bin", "myplugin"])
            .current_dir(&paths.workspace)
            .env("CARGO_TARGET_DIR", paths.target()),
        "building our plugin",
    )?;
    let ours = paths.target().join("release").join("myplugin");

    let cln_target = paths.out.join("cln-plugin-rs");
    run(
        Command::new(&cargo)
            .args(["build", "--release", "--manifest-path"])
            .arg(paths.bench_dir.join("peers/cln-plugin-rs/Cargo.toml"))
            .arg("--target-dir")
            .arg(&cln_target)
            .env_remove("CARGO_TARGET_DIR"),
        "building the cln-plugin peer",
    )?;
    let cln = cln_target.join("release").join("myplugin-cln-plugin");

    ensure_venv(paths)?;
    let venv_py = paths.venv_python();
    // The library-free peer runs on the base interpreter (no venv, no pyenv
    // shim: a shim is a shell script and would add its own start-up time).
    let base_py = base_interpreter(&venv_py)?;
    let launch_dir = paths.out.join("peers");
    std::fs::create_dir_all(&launch_dir)?;
    let stdlib = launcher(
        // The conformance suite's reference implementation doubles as the
        // library-free Python peer: one Python myplugin in the repo, not two.
        &paths.workspace.join("itest/tests/fixtures/myplugin.py"),
        &base_py,
        &launch_dir,
    )?;
    let pyln = launcher(
        &paths.bench_dir.join("peers/myplugin_pyln.py"),
        &venv_py,
        &launch_dir,
    )?;

    let mut peers = vec![
        Peer {
            key: "ours",
            label: "ours (Rust, by hand)",
            path: ours,
        },
        Peer {
            key: "py_stdlib",
            label: "Python stdlib",
            path: stdlib,
        },
        Peer {
            key: "pyln_client",
            label: "Python pyln-client",
            path: pyln,
        },
        Peer {
            key: "cln_plugin",
            label: "Rust cln-plugin",
            path: cln,
        },
    ];
    // Any other executable implementing the contract (e.g. a candidate fix
    // of ours), measured as one more column of the same run.
    if let Some(extra) = std::env::var_os("BENCH_EXTRA_PLUGIN").filter(|v| !v.is_empty()) {
        let path = std::fs::canonicalize(&extra).context("BENCH_EXTRA_PLUGIN")?;
        peers.push(Peer {
            key: "extra",
            label: "extra (BENCH_EXTRA_PLUGIN)",
            path,
        });
    }
    Ok(peers)
}

/// Creates `<target>/bench/venv` and installs bench/requirements.txt when
/// the venv is missing or the requirements changed.
pub fn ensure_venv(paths: &Paths) -> Result<()> {
    ensure_venv_in(paths, "venv", "requirements.txt").map(|_| ())
}

/// Creates `<target>/bench/<dir>` and installs `bench/<requirements>` (and
/// the files it includes with `-r`, all in bench/) when the venv is
/// missing or any of them changed. Returns the venv's python.
pub fn ensure_venv_in(paths: &Paths, dir: &str, requirements: &str) -> Result<PathBuf> {
    let venv = paths.out.join(dir);
    let python = venv.join("bin").join("python3");
    let req = paths.bench_dir.join(requirements);
    let mut wanted =
        std::fs::read_to_string(&req).with_context(|| format!("reading bench/{requirements}"))?;
    let included: Vec<String> = wanted
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-r "))
        .map(|f| f.trim().to_string())
        .collect();
    for file in included {
        wanted += &std::fs::read_to_string(paths.bench_dir.join(&file))
            .with_context(|| format!("reading bench/{file} (included by bench/{requirements})"))?;
    }
    let stamp = venv.join(".bench-requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return Ok(python);
    }
    let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&base).args(["-m", "venv"]).arg(&venv),
        &format!("creating the venv {}", venv.display()),
    )?;
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "-r"])
            .arg(&req),
        &format!("installing bench/{requirements}"),
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// The real interpreter behind the venv's python.
fn base_interpreter(venv_py: &Path) -> Result<PathBuf> {
    let out = Command::new(venv_py)
        .args(["-c", "import sys; print(sys._base_executable)"])
        .output()
        .context("asking the venv for its base interpreter")?;
    let path = PathBuf::from(String::from_utf8(out.stdout)?.trim());
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

/// A copy of `script` in `dir` whose `#!` names `python` directly.
fn launcher(script: &Path, python: &Path, dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let text =
        std::fs::read_to_string(script).with_context(|| format!("reading {}", script.display()))?;
    let body = text.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
    let dest = dir.join(script.file_name().unwrap());
    std::fs::write(&dest, format!("#!{}\n{body}", python.display()))?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))?;
    Ok(dest)
}
