//! Marking tests that need real daemons, so that a missing one is reported
//! as a skip instead of a silent pass.
//!
//! `build.rs` looks for the binaries and sets `itest_no_lightningd` /
//! `itest_no_bitcoind` when one is missing (never under `ITEST_REQUIRE=1`).
//! These macros put the matching `#[ignore = "<what is missing, how to get
//! it>"]` on the test, so `cargo test` prints that line for each test and
//! counts it as ignored.
//!
//! ```text
//! itest::needs_lightningd! {
//! #[test]
//! fn my_plugin_works() { /* ... */ }
//! }
//! ```

/// For a test that needs lightningd and bitcoind.
#[macro_export]
macro_rules! needs_lightningd {
    ($(#[$attr:meta])* fn $($rest:tt)*) => {
        $(#[$attr])*
        #[cfg_attr(
            itest_no_lightningd,
            ignore = "lightningd not found: run inside `nix develop`, put lightningd on PATH, or set LIGHTNINGD=/path/to/lightningd"
        )]
        #[cfg_attr(
            all(itest_no_bitcoind, not(itest_no_lightningd)),
            ignore = "bitcoind not found: run inside `nix develop`, put bitcoind on PATH, or set BITCOIND=/path/to/bitcoind"
        )]
        fn $($rest)*
    };
}

/// For a test that needs only bitcoind.
#[macro_export]
macro_rules! needs_bitcoind {
    ($(#[$attr:meta])* fn $($rest:tt)*) => {
        $(#[$attr])*
        #[cfg_attr(
            itest_no_bitcoind,
            ignore = "bitcoind not found: run inside `nix develop`, put bitcoind on PATH, or set BITCOIND=/path/to/bitcoind"
        )]
        fn $($rest)*
    };
}
