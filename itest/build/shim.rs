//! Compiles the std-only helper programs in `shim/` with the same rustc
//! and target as itest: the bitcoin-cli stand-in (`shim/bitcoin_cli.rs`
//! into `$OUT_DIR/bitcoin-cli`) and the plugin relay that traces a
//! plugin's traffic (`shim/plugin_relay.rs` into
//! `$OUT_DIR/itest-plugin-relay`).
//!
//! They are std-only, so `rustc` alone builds them, without a cargo
//! package of their own. A failed compile never fails itest's build (most
//! tests need neither): the reason is recorded and the library returns it
//! as an error at run time. Each result is written to
//! `$OUT_DIR/<const name in lower case>.rs`, which the library includes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One helper program.
pub struct Shim {
    /// Its source, relative to the package.
    source: &'static str,
    /// The source is part of the crate, not of the machine: reading it at
    /// compile time makes a package that leaves it out fail to build (as
    /// `cargo package` verifies) instead of losing the program in silence.
    text: &'static [u8],
    /// The binary's file name in `$OUT_DIR`.
    binary: &'static str,
    /// The constant the library reads (`Result<&str, &str>`).
    constant: &'static str,
    /// What it is, for warnings.
    what: &'static str,
}

/// The bitcoin-cli stand-in.
pub const BITCOIN_CLI: Shim = Shim {
    source: "shim/bitcoin_cli.rs",
    text: include_bytes!("../shim/bitcoin_cli.rs"),
    binary: "bitcoin-cli",
    constant: "BITCOIN_CLI_SHIM",
    what: "the bitcoin-cli stand-in",
};

/// The relay in front of traced plugins.
pub const PLUGIN_RELAY: Shim = Shim {
    source: "shim/plugin_relay.rs",
    text: include_bytes!("../shim/plugin_relay.rs"),
    binary: "itest-plugin-relay",
    constant: "PLUGIN_RELAY",
    what: "the plugin relay (traced plugins)",
};

/// Builds `shim` (unless an identical build is already there) and writes
/// what the library needs to know about it; returns where it is, or why
/// it could not be built.
pub fn compile(shim: &Shim) -> Result<PathBuf, String> {
    println!("cargo::rerun-if-changed={}", shim.source);
    println!("cargo::rerun-if-changed=build/shim.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let result = build(shim, &out);
    if let Err(reason) = &result {
        println!(
            "cargo::warning=itest: {} was not built: {}",
            shim.what,
            first_line(reason)
        );
    }
    let code = format!(
        "/// Where build.rs put {}, or why it could not.\n\
         const {}: Result<&str, &str> = {};\n",
        shim.what,
        shim.constant,
        match &result {
            Ok(path) => format!("Ok({:?})", path.display().to_string()),
            Err(reason) => format!("Err({reason:?})"),
        }
    );
    // Rewritten only when it changes: rustc tracks the included file, and
    // a new mtime alone would rebuild itest.
    let file = out.join(format!("{}.rs", shim.constant.to_lowercase()));
    if std::fs::read_to_string(&file).ok().as_deref() != Some(code.as_str()) {
        std::fs::write(&file, code).expect("writing bitcoin_cli_shim.rs");
    }
    result
}

fn build(shim: &Shim, out: &Path) -> Result<PathBuf, String> {
    let rustc = std::env::var("RUSTC").map_err(|_| "RUSTC is not set".to_string())?;
    let target = std::env::var("TARGET").map_err(|_| "TARGET is not set".to_string())?;
    let file_name = Path::new(shim.source).file_name().expect("a file");
    let source = out.join(file_name);
    let text = shim.text;
    let binary = out.join(shim.binary);
    // This script re-runs whenever PATH or a PATH directory changes; skip
    // the compile when the source, compiler and target are the same.
    let stamp_path = out.join(format!("{}.stamp", shim.binary));
    let mut stamp = format!("{rustc}\n{target}\n").into_bytes();
    stamp.extend_from_slice(text);
    if binary.is_file() && std::fs::read(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(binary);
    }
    std::fs::write(&source, text).map_err(|e| format!("writing {}: {e}", source.display()))?;
    let output = Command::new(&rustc)
        .args([
            "--edition",
            "2021",
            "--crate-name",
            &shim.binary.replace('-', "_"),
            "--crate-type",
            "bin",
            "-O",
        ])
        .arg("--target")
        .arg(&target)
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .map_err(|e| format!("running {rustc}: {e}"))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&stamp_path);
        return Err(format!(
            "{rustc} --target {target} {} failed ({}):\n{}",
            source.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    std::fs::write(&stamp_path, stamp)
        .map_err(|e| format!("writing {}: {e}", stamp_path.display()))?;
    Ok(binary)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
