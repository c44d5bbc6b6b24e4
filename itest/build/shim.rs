//! Compiles `shim/bitcoin_cli.rs`, the bitcoin-cli stand-in, into
//! `$OUT_DIR/bitcoin-cli` with the same rustc and target as itest.
//!
//! It is std-only, so `rustc` alone builds it, without a cargo package of
//! its own. A failed compile never fails itest's build (most tests don't
//! need the stand-in): the reason is recorded and `bitcoin_cli_shim()`
//! returns it as an error at run time. The result is written to
//! `$OUT_DIR/bitcoin_cli_shim.rs`, which the library includes.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = "shim/bitcoin_cli.rs";
/// The source is part of the crate, not of the machine: reading it at
/// compile time makes a package that leaves it out fail to build (as
/// `cargo package` verifies) instead of losing the stand-in in silence.
const SOURCE_TEXT: &[u8] = include_bytes!("../shim/bitcoin_cli.rs");

/// Builds the stand-in (unless an identical build is already there) and
/// writes what the library needs to know about it; returns where it is,
/// or why it could not be built.
pub fn compile() -> Result<PathBuf, String> {
    println!("cargo::rerun-if-changed={SOURCE}");
    println!("cargo::rerun-if-changed=build/shim.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let result = build(&out);
    if let Err(reason) = &result {
        println!(
            "cargo::warning=itest: the bitcoin-cli stand-in was not built: {}",
            first_line(reason)
        );
    }
    let code = format!(
        "/// Where build.rs put the bitcoin-cli stand-in, or why it could not.\n\
         const BITCOIN_CLI_SHIM: Result<&str, &str> = {};\n",
        match &result {
            Ok(path) => format!("Ok({:?})", path.display().to_string()),
            Err(reason) => format!("Err({reason:?})"),
        }
    );
    // Rewritten only when it changes: rustc tracks the included file, and
    // a new mtime alone would rebuild itest.
    let file = out.join("bitcoin_cli_shim.rs");
    if std::fs::read_to_string(&file).ok().as_deref() != Some(code.as_str()) {
        std::fs::write(&file, code).expect("writing bitcoin_cli_shim.rs");
    }
    result
}

fn build(out: &Path) -> Result<PathBuf, String> {
    let rustc = std::env::var("RUSTC").map_err(|_| "RUSTC is not set".to_string())?;
    let target = std::env::var("TARGET").map_err(|_| "TARGET is not set".to_string())?;
    let source = out.join("bitcoin_cli.rs");
    let text = SOURCE_TEXT;
    let binary = out.join("bitcoin-cli");
    // This script re-runs whenever PATH or a PATH directory changes; skip
    // the compile when the source, compiler and target are the same.
    let stamp_path = out.join("bitcoin-cli.stamp");
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
            "bitcoin_cli_shim",
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
