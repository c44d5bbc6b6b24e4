//! Running daemons in Docker containers, through testcontainers.
//!
//! The pieces, one concern each:
//! - `engine`: where the engine is and whether it answers (also used by the
//!   build script to decide which tests are ignored);
//! - `image`: `name:tag` references and the default images;
//! - `container`: one daemon in one container that looks native to the
//!   host (loopback ports, same paths, host uid, log files);
//! - `owner`: labels naming the owning process, and removing containers
//!   whose owner was killed;
//! - `runtime`: the private tokio runtime every engine call runs on, so the
//!   sync API is safe inside `#[tokio::test]`.

mod container;
pub mod engine;
mod image;
mod owner;
mod runtime;

pub use container::{Container, ContainerSpec};
pub use image::{ImageRef, DEFAULT_BITCOIND_IMAGE, DEFAULT_LIGHTNINGD_IMAGE};

/// The ids of the containers (running or exited) this process started and
/// has not removed yet. Empty once every network has dropped.
pub fn containers_of_this_process() -> anyhow::Result<Vec<String>> {
    runtime::block_on(async { owner::owned_by_this_process(&container::engine()?).await })?
}

/// Removes every harness container whose owning process is gone (killed
/// before it could clean up); returns their ids. Cheap: one engine call.
pub fn reap_orphans() -> anyhow::Result<Vec<String>> {
    runtime::block_on(async { owner::reap_orphans(&container::engine()?).await })?
}

// `needs_docker!`, written by build.rs (its ignore reason names the engine
// address that was tried).
include!(concat!(env!("OUT_DIR"), "/docker_skip.rs"));
