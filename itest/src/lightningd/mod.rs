//! The lightningd program: what a binary supports (`bin`) and the options
//! every harness node gets (`options`, shared with `scripts/start_ln.sh`).

pub(crate) mod bin;
pub(crate) mod options;
