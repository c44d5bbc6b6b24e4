//! The docker backend: daemons in containers, through testcontainers.
//!
//! Chosen with [`Conf::bitcoind_backend`](crate::Conf::bitcoind_backend) and
//! [`Conf::lightningd_backend`](crate::Conf::lightningd_backend) (defaults:
//! `ITEST_BITCOIND_BACKEND` / `ITEST_LIGHTNINGD_BACKEND`, else
//! `ITEST_BACKEND`); how containers and this machine reach each other with
//! [`Conf::docker_mode`](crate::Conf::docker_mode). Everything above the
//! daemons (`Network`, `Node`, the funding helpers) is the same for every
//! backend and mode.
//!
//! The pieces, one concern each (where the engine is and whether it
//! answers is `crate::probe::engine`, shared with the build script):
//! - `engine`: the engine client, what the engine is, which mode that
//!   gives;
//! - `image`: `name:tag` references;
//! - `spec`: what to run in a container, and what it shares with this
//!   machine;
//! - `container`: one daemon in one container, behind the daemon boundary;
//! - `host`: containers that share this machine (host networking,
//!   same-path bind mounts, host uid);
//! - `isolated` and `isolation`: containers that share nothing (a network
//!   of their own, published ports, copies, volumes), and what one
//!   `Network`'s isolated containers share on the engine;
//! - `forward`: lightningd's RPC socket from an isolated container, here;
//! - `archive`: files in and out through the engine, and whether a program
//!   can run in its containers;
//! - `follow`: a container's output copied to files here;
//! - `launcher`: a daemon spec as a container;
//! - `oneshot`: `--version`/`--help` in throw-away containers;
//! - `sidecar`: removes a container as soon as its test process dies, even
//!   by SIGKILL;
//! - `owner`: labels naming the owning process, and removing containers,
//!   networks and volumes whose owner was killed;
//! - `runtime`: engine calls from sync code, safe inside `#[tokio::test]`.

mod archive;
mod container;
mod engine;
mod follow;
mod forward;
mod host;
mod image;
mod isolated;
#[cfg(test)]
mod isolated_tests;
mod isolation;
mod launcher;
mod oneshot;
mod owner;
mod runtime;
mod sidecar;
mod spec;
#[cfg(test)]
mod tests;

pub use crate::probe::images::{DEFAULT_BITCOIND_IMAGE, DEFAULT_LIGHTNINGD_IMAGE};
pub(crate) use engine::resolve_mode;
pub(crate) use image::ImageRef;
pub(crate) use isolation::Isolation;
pub(crate) use launcher::{DockerLauncher, Share};
pub(crate) use oneshot::output;

/// The ids of the containers (running or exited) this process started and
/// has not removed yet. Empty once every network has dropped.
pub fn containers_of_this_process() -> crate::Result<Vec<String>> {
    let ids = runtime::block_on(async { owner::owned_by_this_process(&engine::client()?).await });
    ids.and_then(|r| r).map_err(crate::Error::internal)
}

/// Removes every harness container, and every container network and
/// volume, whose owning process is gone (killed before it could clean up,
/// e.g. by SIGKILL); returns their ids and names. Every network with a
/// docker-backed daemon calls this when it starts.
pub fn reap_orphans() -> crate::Result<Vec<String>> {
    let ids = runtime::block_on(async { owner::reap_orphans(&engine::client()?).await });
    ids.and_then(|r| r).map_err(crate::Error::internal)
}

/// `Ok` when the Docker engine answers, else the one-line reason (which
/// engine address was tried, how to fix it) that docker-backed tests show
/// when they are skipped.
pub fn engine_check() -> crate::Result<()> {
    crate::probe::engine::check().map_err(crate::Error::msg)
}
