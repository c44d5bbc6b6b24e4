//! `myplugin`: a dynamic Core Lightning plugin that speaks the plugin
//! protocol by hand, to show how it works.
//!
//! Two halves, in separate places:
//!
//! - [`protocol`]: CLN's plugin protocol (framing, messages, the `Handler`
//!   trait, the bounded writer). It knows nothing of myplugin; a second
//!   plugin could reuse it unchanged.
//! - [`myplugin`]: what myplugin declares and does, as one `Handler`, with
//!   [`node_rpc`] for its one call back into lightningd.

#![warn(missing_docs)]

pub mod myplugin;
pub mod node_rpc;
pub mod protocol;

pub use myplugin::MyPlugin;
