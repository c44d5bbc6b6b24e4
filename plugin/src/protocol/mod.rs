//! Core Lightning's plugin protocol, written by hand. Nothing in here knows
//! what any particular plugin does: that is a [`Handler`].
//!
//! lightningd starts a plugin with pipes on its stdin and stdout and talks
//! JSON-RPC 2.0 over them. A message's path through this module:
//!
//! - [`framing`] cuts stdin's bytes into messages where lightningd's own
//!   tokenizer ends them, with [`lightningd_json`] (the rules, with the CLN
//!   source lines they follow) checking each as it arrives and finding
//!   lightningd's `id`, so that nothing inside a message is ever a message;
//! - [`messages`] says what an object means (request, notification, or
//!   something to reject) and how replies and log lines are written;
//! - [`server`] answers `getmanifest` and `init`, hands calls of the plugin's
//!   methods to its [`Handler`], and exits on `shutdown` or EOF;
//! - [`calls`] makes sure every call gets exactly one reply, even at
//!   shutdown;
//! - [`writer`] owns stdout, bounded; [`stdio`] opens the pipes;
//! - [`garbage`] and [`preview`] keep the log short whatever arrives.
//!
//! The contract, whatever bytes arrive: the plugin never wedges, every
//! request whose id can be read gets exactly one reply, and memory stays
//! bounded.

pub mod calls;
pub mod framing;
pub mod garbage;
pub mod handler;
pub mod lightningd_json;
pub mod messages;
pub mod preview;
pub mod server;
pub mod stdio;
pub mod writer;

pub use handler::{
    result, Call, ConfigOption, Configuration, Handler, Init, Log, Manifest, OptionType, RpcError,
    RpcMethod,
};
pub use server::serve;
