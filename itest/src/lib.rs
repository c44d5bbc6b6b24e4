//! A harness for testing Core Lightning plugins against real daemons.
//!
//! It starts a regtest `bitcoind` and any number of `lightningd` nodes,
//! each in its own temporary directory with its own reserved ports, waits
//! until they are really ready (or fails with the daemon's log tail), and
//! tears everything down on drop, even when the test panics. Logs are kept
//! and printed only when something failed.
//!
//! Like pyln-testing, it also fails a test whose body passed when a node
//! logged `**BROKEN**`, had a plugin killed by lightningd, crashed or
//! exited non-zero (allow what you expect with [`NodeConf::allow_log`] and
//! [`NodeConf::may_fail`]); waits for log lines
//! ([`Node::wait_for_log`]); and builds a line of channels to pay across
//! ([`Network::line_graph`], [`Node::invoice`], [`Node::pay`]).
//!
//! Everything is configured in code ([`Conf`], [`NodeConf`]); environment
//! variables only supply defaults: `LIGHTNINGD`, `BITCOIND`, `BITCOIN_CLI`
//! (else `PATH`), `ITEST_TIMEOUT` (seconds, default 60), `ITEST_KEEP=1`
//! (keep dirs), and at build time `ITEST_REQUIRE=1` (never skip).
//!
//! The API is synchronous and safe everywhere: in a plain `#[test]`, in
//! `#[tokio::test]` (RPC runs on the harness's own runtime, never on
//! yours), and through `spawn_blocking` (daemons are forked by one
//! long-lived harness thread, so they live exactly as long as the
//! [`Network`], and die with the test process even on SIGKILL).
//!
//! ```no_run
//! use cln_itest::{Conf, Network, NodeConf};
//! use serde_json::json;
//!
//! cln_itest::needs_lightningd! {
//!     #[test]
//!     fn my_plugin_answers() {
//!         let mut conf = Conf::default();
//!         conf.nodes = vec![
//!             NodeConf::default().with_plugin("/abs/path/to/my-plugin", [("my-opt", "x")]),
//!             NodeConf::default(),
//!         ];
//!         let net = Network::with_conf(&conf).unwrap();
//!         let reply = net.node(0).call("my-method", json!([])).unwrap();
//!         assert_eq!(reply["ok"], json!(true));
//!     }
//! }
//! ```

#![warn(missing_docs)]
// The examples show real test functions; they are compiled, not run.
#![allow(clippy::test_attr_in_doctest)]

// The `needs_*!` skip macros, written by build.rs (`build/skips.rs`).
// Included before every module so that the crate's own tests see them.
include!(concat!(env!("OUT_DIR"), "/skips.rs"));

mod bitcoin_cli_shim;
mod bitcoind;
pub mod chain_proxy;
mod conf;
mod daemon;
mod findings;
mod lightningd;
mod logs;
mod network;
mod node;
mod ports;
mod probe;
mod rpc;
mod runtime;
mod version;
mod wait;

pub use bitcoind::BitcoinD;
pub use conf::{Conf, NodeConf, PluginConf};
pub use daemon::docker;
pub use daemon::native::liveness::pid_alive;
pub use lightningd::options::regtest_options;
pub use logs::cursor::LogCursor;
pub use network::line_graph::SLOW_GOSSIP;
pub use network::money::{Invoice, PAY_REPLY_MARGIN};
pub use network::Network;
pub use node::{Node, StartError};
pub use probe::backend::{Backend, DockerMode};
pub use rpc::RpcError;
pub use version::Version;
pub use wait::wait_until;

/// The `bitcoincore-rpc` version [`BitcoinD::client`] returns.
pub use bitcoincore_rpc;
/// The `cln-rpc` version [`Node::call_typed`] and [`Node::cln_rpc`] use.
pub use cln_rpc;

/// Appends `#[ignore = $reason]` after a test's own attributes (used by
/// the generated `needs_*!` macros).
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
