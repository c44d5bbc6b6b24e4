//! Removing a container when the test process dies, even by SIGKILL.
//!
//! A local daemon dies with the test process (`PR_SET_PDEATHSIG`), but a
//! container is the engine's child, not ours, and testcontainers removes
//! it only from `Drop`. So each container gets a sidecar: a tiny `sh` that
//! blocks reading a pipe whose only writer is the test process. When that
//! process ends, however it ends, the kernel closes the pipe, `read`
//! returns, and the sidecar runs `docker rm -f`. A normal teardown removes
//! the container itself and kills the sidecar first.
//!
//! The sidecar needs the `docker` CLI. Without it, containers of a killed
//! test stay until the next network removes them by their owner labels
//! (`owner`).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use crate::probe::lookup::search_path;

/// A watcher that removes one container when this process dies.
#[derive(Debug)]
pub struct Sidecar {
    /// Holds the pipe's write end (`stdin`); killed on a normal teardown.
    child: Child,
}

impl Sidecar {
    /// Starts the watcher for container `id`; `None` without a `docker`
    /// CLI on PATH (or if it cannot start).
    pub fn watch(id: &str, docker_host: &str) -> Option<Self> {
        let docker = search_path("docker".as_ref(), std::env::var_os("PATH"))?;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", r#"read -r _; exec "$0" rm -f "$1" >/dev/null 2>&1"#])
            .arg(docker)
            .arg(id)
            .env("DOCKER_HOST", docker_host)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C to the test must not kill it
            // before it has cleaned up.
            .process_group(0);
        // Forked by the harness's spawner thread like every daemon; no
        // PR_SET_PDEATHSIG here, it must outlive us.
        crate::runtime::spawn(cmd).ok().map(|child| Self { child })
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        // The container is already gone: stop the watcher without letting
        // it run `docker rm`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
