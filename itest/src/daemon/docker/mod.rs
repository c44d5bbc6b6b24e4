//! The docker backend: daemons in containers, through testcontainers.
//!
//! Chosen with [`Conf::bitcoind_backend`](crate::Conf::bitcoind_backend) and
//! [`Conf::lightningd_backend`](crate::Conf::lightningd_backend) (defaults:
//! `ITEST_BITCOIND_BACKEND` / `ITEST_LIGHTNINGD_BACKEND`, else
//! `ITEST_BACKEND`). Everything above the daemons (`Network`, `Node`, the
//! funding helpers) is the same for both backends.
//!
//! The pieces, one concern each (where the engine is and whether it
//! answers is `crate::probe::engine`, shared with the build script):
//! - `image`: `name:tag` references;
//! - `container`: one daemon in one container that looks native to the
//!   host (loopback ports, same paths, host uid, log files);
//! - `launcher`: that container behind the harness's daemon boundary;
//! - `sidecar`: removes a container as soon as its test process dies, even
//!   by SIGKILL;
//! - `owner`: labels naming the owning process, and removing containers
//!   whose owner was killed (where no sidecar could run);
//! - `runtime`: engine calls from sync code, safe inside `#[tokio::test]`.

mod container;
mod image;
mod launcher;
mod owner;
mod runtime;
mod sidecar;
#[cfg(test)]
mod tests;

pub use crate::probe::images::{DEFAULT_BITCOIND_IMAGE, DEFAULT_LIGHTNINGD_IMAGE};
pub(crate) use container::output;
pub(crate) use image::ImageRef;
pub(crate) use launcher::{is_visible, DockerLauncher};

/// The ids of the containers (running or exited) this process started and
/// has not removed yet. Empty once every network has dropped.
pub fn containers_of_this_process() -> crate::Result<Vec<String>> {
    let ids =
        runtime::block_on(async { owner::owned_by_this_process(&container::engine()?).await });
    ids.and_then(|r| r).map_err(crate::Error::internal)
}

/// Removes every harness container whose owning process is gone (killed
/// before it could clean up, e.g. by SIGKILL); returns their ids. Every
/// network with a docker-backed daemon calls this when it starts.
pub fn reap_orphans() -> crate::Result<Vec<String>> {
    let ids = runtime::block_on(async { owner::reap_orphans(&container::engine()?).await });
    ids.and_then(|r| r).map_err(crate::Error::internal)
}

/// `Ok` when the Docker engine answers, else the one-line reason (which
/// engine address was tried, how to fix it) that docker-backed tests show
/// when they are skipped.
pub fn engine_check() -> crate::Result<()> {
    crate::probe::engine::check().map_err(crate::Error::msg)
}
