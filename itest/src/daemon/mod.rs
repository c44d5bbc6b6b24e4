//! Daemons and where they run.
//!
//! - `boundary`: what the rest of the harness knows of a daemon (a spec to
//!   start, a handle to watch and stop);
//! - `placement`: the one place that knows the backends, answering every
//!   question whose answer depends on where a daemon runs;
//! - `native`: daemons as processes of this machine;
//! - `docker`: daemons in containers, through testcontainers.
//!
//! Nothing outside this module matches on a backend.

pub(crate) mod boundary;
pub mod docker;
pub(crate) mod native;
pub(crate) mod placement;
