//! A plugin's traffic as data: every JSON-RPC message between lightningd
//! and a traced plugin ([`PluginConf::traced`](crate::PluginConf::traced)),
//! in order, with the time it passed and its direction.
//!
//! - `relay`: where the relay program is, and the wrapper line that puts it
//!   in front of a plugin;
//! - `record`: reading the trace file the relay writes;
//! - `message`: [`PluginTrace`] and [`TraceMessage`], what a test reads;
//! - `rejections`: the teardown finding for a message lightningd rejected.
//!
//! Why a relay and not lightningd's io logging (`--log-level=io:plugin-x`):
//! in v23.02 and v26.06 lightningd io-logs what it reads from a plugin as
//! hex dumps of each read (not of each message: 912 reads for 600
//! replies in `tests/trace_cost.rs`), and of what it writes only the
//! request id (`plugin-x: 14[OUT]`, no bytes), so hook payloads, `init`
//! and notifications to the plugin are invisible there; hex-encoding also
//! doubled the latency of a call with a 100 kB reply, where the relay adds
//! about a tenth. The measurements are in the crate README.

pub(crate) mod message;
pub(crate) mod record;
pub(crate) mod rejections;
pub(crate) mod relay;

pub use message::{Direction, PluginTrace, TraceMessage};
