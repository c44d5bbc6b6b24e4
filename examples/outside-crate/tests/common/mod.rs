//! What both test files share: where the plugin under test lives.
#![allow(dead_code)]

use std::path::PathBuf;

/// This crate's plugin (a real one would be `env!("CARGO_BIN_EXE_<name>")`
/// or a path into `target/`).
pub fn hello_plugin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("plugins")
        .join("hello.py")
}
