//! The lightningd program: what a binary supports (`bin`) and the options
//! every harness node gets (`options`, shared with `scripts/start_ln.sh`),
//! pyln-testing's node defaults (`pyln_defaults`), and one-off runs of
//! the binary with options and plugins (`run`).

pub(crate) mod bin;
pub(crate) mod options;
pub(crate) mod pyln_defaults;
pub(crate) mod run;
