//! What this machine offers the harness: the daemons' binaries, the backend
//! each daemon is asked to use, and the Docker engine (where it is, as
//! testcontainers finds it) with its images.
//!
//! **std only.** `build.rs` compiles this directory too (through `#[path]`,
//! with no build-dependencies) to decide at compile time which tests are
//! ignored, and the library uses the same code at run time, so a test is
//! never ignored while the run would have worked, nor run where it cannot.
//! A `use` of any other crate here breaks the build script's compilation,
//! which is what keeps it std-only.

pub mod backend;
pub mod engine;
pub mod engine_host;
pub mod images;
pub mod lookup;
pub mod postgres;
pub mod properties;
pub mod require;
