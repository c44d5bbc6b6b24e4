//! A harness for testing Core Lightning plugins against real daemons.
//!
//! It starts a regtest `bitcoind` and any number of `lightningd` nodes, each
//! in its own temporary directory with its own reserved ports, waits until
//! they are really ready (or fails with the daemon's log tail), and tears
//! everything down on drop, even when the test panics. Logs are kept and
//! printed only when a test fails (or always with `ITEST_KEEP=1`).
//!
//! ```no_run
//! use itest::Network;
//! use serde_json::json;
//!
//! let net = Network::builder().nodes(2).build().unwrap();
//! let (l1, l2) = (net.node(0), net.node(1));
//! l1.plugin_start("/abs/path/to/myplugin", &[("foo_opt", "BAR")]).unwrap();
//! let reply = l1.call("myplugin", json!(["a"])).unwrap();
//! net.fund_channel(l1, l2, 1_000_000).unwrap();
//! ```
//!
//! Environment: `LIGHTNINGD`, `BITCOIND`, `BITCOIN_CLI` (binaries, else
//! PATH), `ITEST_TIMEOUT` (seconds, default 60), `ITEST_KEEP=1`,
//! `ITEST_REQUIRE=1` (never skip), `MYPLUGIN` (plugin under test).

pub mod binaries;
pub mod bitcoind;
pub mod lightningd;
mod log_cursor;
#[path = "lookup.rs"]
mod lookup;
pub mod network;
pub mod plugin;
pub mod ports;
pub mod process;
pub mod rpc;
mod skip;
mod teardown;
mod wait;

pub use binaries::{Binaries, Version};
pub use bitcoind::BitcoinD;
pub use lightningd::Node;
pub use log_cursor::LogCursor;
pub use network::{Network, NetworkBuilder};
pub use rpc::RpcError;
pub use wait::{keep_dirs, timeout, wait_until};
