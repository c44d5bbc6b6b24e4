//! Marking tests that need real daemons, so that a missing one is reported
//! as a skip instead of a silent pass.
//!
//! libtest cannot skip at run time (a test that returns early passes), so
//! the decision is made when *itest* is compiled: its `build.rs` looks the
//! binaries up and sets `itest_no_lightningd` / `itest_no_bitcoind`, and
//! the macros below are defined differently under those cfgs. A crate that
//! depends on itest therefore gets the same `#[ignore = "<what is missing,
//! how to get it>"]` with no build script and no `unexpected_cfgs`. cargo
//! rebuilds itest (and so its dependents' tests) when `PATH`,
//! `LIGHTNINGD`, `BITCOIND`, `BITCOIN_CLI` or `ITEST_REQUIRE` change.
//!
//! ```no_run
//! itest::needs_lightningd! {
//!     #[test]
//!     fn my_plugin_works() { /* build a Network, ... */ }
//! }
//! ```

/// Wraps a test that needs lightningd and bitcoind: it is compiled as
/// `#[ignore = "..."]`, naming what is missing and how to get it, when
/// either was missing at build time (never under `ITEST_REQUIRE=1`).
/// Works with `#[test]`, `#[tokio::test]` and `#[rstest]`.
#[cfg(not(any(itest_no_lightningd, itest_no_bitcoind)))]
#[macro_export]
macro_rules! needs_lightningd {
    ($($item:tt)*) => { $($item)* };
}

/// Wraps a test that needs lightningd and bitcoind: it is compiled as
/// `#[ignore = "..."]`, naming what is missing and how to get it, when
/// either was missing at build time (never under `ITEST_REQUIRE=1`).
/// Works with `#[test]`, `#[tokio::test]` and `#[rstest]`.
#[cfg(itest_no_lightningd)]
#[macro_export]
macro_rules! needs_lightningd {
    ($($item:tt)*) => {
        $crate::__ignored! {
            "lightningd not found: run inside `nix develop`, put lightningd on PATH, or set LIGHTNINGD=/path/to/lightningd";
            $($item)*
        }
    };
}

/// Wraps a test that needs lightningd and bitcoind: it is compiled as
/// `#[ignore = "..."]`, naming what is missing and how to get it, when
/// either was missing at build time (never under `ITEST_REQUIRE=1`).
/// Works with `#[test]`, `#[tokio::test]` and `#[rstest]`.
#[cfg(all(itest_no_bitcoind, not(itest_no_lightningd)))]
#[macro_export]
macro_rules! needs_lightningd {
    ($($item:tt)*) => { $crate::needs_bitcoind! { $($item)* } };
}

/// Wraps a test that needs only bitcoind (see [`needs_lightningd!`]).
#[cfg(not(itest_no_bitcoind))]
#[macro_export]
macro_rules! needs_bitcoind {
    ($($item:tt)*) => { $($item)* };
}

/// Wraps a test that needs only bitcoind (see [`needs_lightningd!`]).
#[cfg(itest_no_bitcoind)]
#[macro_export]
macro_rules! needs_bitcoind {
    ($($item:tt)*) => {
        $crate::__ignored! {
            "bitcoind not found: run inside `nix develop`, put bitcoind and bitcoin-cli on PATH, or set BITCOIND and BITCOIN_CLI";
            $($item)*
        }
    };
}

/// Appends `#[ignore = $reason]` after a test's own attributes.
#[doc(hidden)]
#[macro_export]
macro_rules! __ignored {
    ($reason:literal; $(#[$attr:meta])* fn $($rest:tt)*) => {
        $(#[$attr])*
        #[ignore = $reason]
        fn $($rest)*
    };
    ($reason:literal; $(#[$attr:meta])* async fn $($rest:tt)*) => {
        $(#[$attr])*
        #[ignore = $reason]
        async fn $($rest)*
    };
}
