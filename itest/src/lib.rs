//! A harness for testing Core Lightning plugins against real daemons.
//!
//! It starts a regtest `bitcoind` and any number of `lightningd` nodes,
//! each in its own temporary directory with its own reserved ports, waits
//! until they are really ready (or fails with the daemon's log tail), and
//! tears everything down on drop, even when the test panics. Logs are kept
//! and printed only when something failed.
//!
//! Like pyln-testing, it also fails a test whose body passed when a node
//! logged `**BROKEN**` or another line pyln-testing's teardown checks fail
//! on (`That's weird`, ` WARNING:`, bad gossip, unexpected reconnections,
//! ...), had a plugin killed by lightningd, crashed or exited non-zero
//! (allow what you expect with [`NodeConf::allow_log`],
//! [`NodeConf::may_fail`], [`NodeConf::may_reconnect`], ...); waits for
//! log lines ([`Node::wait_for_log`], from the cursor or from a
//! [`LogMark`], regexes or [`Pattern::literal`] text); and builds lines of
//! channels to pay across ([`Network::line_graph`], [`Links`],
//! [`Network::open_channel`], [`Node::invoice_with`], [`Node::pay_with`],
//! [`Node::single_route`]), balanced and drained channels
//! ([`Network::fund_balanced_channel`], [`Node::drain`]) and reorgs
//! ([`Network::simple_reorg`]).
//!
//! Beyond pyln-testing, a plugin marked [`PluginConf::traced`] has its
//! traffic recorded: every JSON-RPC message between lightningd and it, in
//! order, with times ([`Node::plugin_trace`], [`Node::wait_for_hook_call`]),
//! so a test can assert on hook calls and replies without the plugin
//! logging anything; a message lightningd rejects becomes a teardown
//! finding that quotes it.
//!
//! Every function returns [`Result`], whose [`Error`] keeps lightningd's
//! error replies exactly as sent ([`Error::rpc`], [`Error::rpc_code`]), says
//! which node died or did not start and why ([`Error::start_error`],
//! [`Error::died`]), and works with `?` in tests returning `anyhow::Result`
//! or `Box<dyn Error>`. Calls on a node never wait for each other (each has
//! its own connection); [`Node::call_with_timeout`] and
//! [`Node::spawn_call`] give one call its own limit or run it in the
//! background.
//!
//! Nodes can keep their wallet in PostgreSQL ([`DbProvider::Postgres`],
//! pyln-testing's `db_provider`): the network starts a PostgreSQL server
//! of its own with a database per node ([`Network::postgres`],
//! [`Node::db_query`]).
//!
//! Everything is configured in code ([`Conf`], [`NodeConf`]); environment
//! variables only supply defaults: `LIGHTNINGD`, `BITCOIND`, `BITCOIN_CLI`
//! (else `PATH`), `ITEST_TIMEOUT` (seconds, default 60), `ITEST_KEEP=1`
//! (keep dirs), `ITEST_DB_PROVIDER` (`sqlite3` or `postgres`),
//! `ITEST_CLN_SCHEMAS` (a CLN tree whose JSON schemas every reply is
//! checked against), and at build time `ITEST_REQUIRE=1` (never skip).
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
mod chain_proxy;
mod conf;
mod daemon;
mod error;
mod findings;
mod json;
mod lightningd;
mod logs;
mod network;
mod node;
mod ports;
mod postgres;
mod probe;
mod rpc;
mod runtime;
mod schemas;
mod timeline;
mod trace;
mod version;
mod wait;

pub use bitcoind::{bitcoind_regtest_options, BitcoinD};
pub use chain_proxy::{
    Answer, BitcoindCall, CallRecord, ChainProxy, Feerates, HttpFailure, MockHandler, MockReply,
    ProxyConf, DEFAULT_RECORD_LIMIT,
};
pub use conf::{Conf, NodeArg, NodeConf, PluginConf, DEFAULT_STOP_TIMEOUT};
pub use daemon::boundary::ExitStatus;
pub use daemon::docker;
pub use daemon::native::guard::{OrphanGuard, ParseOrphanGuardError};
pub use daemon::native::liveness::pid_alive;
pub use error::{
    Died, Error, ErrorKind, NoReply, Other, Result, RpcError, SchemaViolation, StartError, Timeout,
    Violation,
};
pub use json::only_one;
pub use lightningd::bin::Lightningd;
pub use lightningd::options::regtest_options;
pub use lightningd::run::LightningdRun;
pub use logs::cursor::{LogCursor, LogState};
pub use logs::pattern::{LogMark, Pattern};
pub use network::chain::Mempool;
pub use network::channels::{Channel, OpenChannel};
pub use network::line_graph::{Links, SLOW_GOSSIP};
pub use network::money::{Amount, Invoice, PAY_REPLY_MARGIN};
pub use network::Network;
pub use node::calls::PendingCall;
pub use node::lifecycle::NodeState;
pub use node::onchain::OnchaindTx;
pub use node::Node;
pub use postgres::{DbProvider, DbRow, Postgres, DB_PROVIDER_VAR};
pub use probe::backend::{Backend, DockerMode};
pub use timeline::{Step, TIMELINE_ENV};
pub use trace::{Direction, PluginTrace, TraceMessage};
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
