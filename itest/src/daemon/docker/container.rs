//! One daemon in one container, behind the harness's daemon boundary.
//!
//! Either way the container is run:
//! - the harness sets the entrypoint and arguments, so any image with the
//!   binary on its PATH works, whatever its own entrypoint script does;
//! - the engine's init (`--init`) is the container's first process, so the
//!   daemon is not: a PID 1 ignores signals it does not handle and cannot
//!   die of the ones it does (lightningd's crash handler re-raises a fatal
//!   signal to write its crash log and die), and nothing would reap its
//!   plugins' orphans;
//! - its stdout and stderr are copied to files of this machine
//!   (`follow`): `<log_dir>/<name>.stdout` and `.stderr`, the files a
//!   native daemon writes, or the daemon's own log file where it logs to
//!   stdout;
//! - owner labels let a later run remove it if this process is killed
//!   (`owner`), and a sidecar removes it at once (`sidecar`).
//!
//! What it shares with this machine is [`Sharing`]: everything (host
//! networking, same-path bind mounts, the host user: `host`), or nothing
//! (a container network of its own, copies, published ports: `isolated`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

use super::follow::{open_log, Follower};
use super::image::{start_error_text, ImageRef};
use super::isolated::{self, Running};
use super::sidecar::Sidecar;
use super::spec::{ContainerSpec, IsolatedSpec, Sharing};
use super::{engine, host, owner, runtime};
use crate::daemon::boundary::{poll_exit, Daemon, ExitStatus, Side};
use crate::logs::tails::labelled_tails;

/// What the running container shares, for the questions that depend on it.
#[derive(Debug)]
enum Shared {
    Host { mounts: Vec<PathBuf> },
    Isolated(Running),
}

/// A running (or exited, not yet removed) container. Removed on drop.
pub struct Container {
    name: String,
    id: String,
    image: ImageRef,
    /// Its first process (the engine's init), where that is a process of
    /// this machine.
    host_pid: Option<u32>,
    /// `None` once removed.
    handle: Mutex<Option<ContainerAsync<GenericImage>>>,
    /// Removes the container if this process dies without `Drop`.
    sidecar: Mutex<Option<Sidecar>>,
    follower: Follower,
    shared: Shared,
    /// Files whose tails explain a failure, most useful first.
    logs: Vec<PathBuf>,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("name", &self.name)
            .field("id", &self.short_id())
            .field("image", &self.image.to_string())
            .finish()
    }
}

impl Container {
    /// Creates and starts the container, and returns once the engine says
    /// it started (the caller waits for the daemon itself to be ready).
    pub fn start(spec: &ContainerSpec) -> Result<Self> {
        let stdout = open_log(&spec.stdout_file())?;
        let stderr = open_log(&spec.stderr_file())?;
        let handle = match &spec.sharing {
            Sharing::Host { mounts } => run(spec, host::request(spec, mounts)?)?,
            Sharing::Isolated(iso) => start_isolated(spec, iso)?,
        };
        match Self::started(spec, &handle, stdout, stderr) {
            Ok(mut container) => {
                container.handle = Mutex::new(Some(handle));
                Ok(container)
            }
            Err(e) => {
                // It may have exited at once: what it said explains why.
                let said = runtime::block_on(async {
                    let mut text =
                        String::from_utf8_lossy(&handle.stderr_to_vec().await?).into_owned();
                    text.push_str(&String::from_utf8_lossy(&handle.stdout_to_vec().await?));
                    anyhow::Ok(text)
                });
                let _ = runtime::block_on(handle.rm());
                match said {
                    Ok(Ok(text)) if !text.trim().is_empty() => Err(e.context(format!(
                        "{}: the container said:\n{}",
                        spec.name,
                        text.trim_end()
                    ))),
                    _ => Err(e),
                }
            }
        }
    }

    /// What the engine knows of the container `handle` just started (the
    /// caller hands the handle over once this succeeds).
    fn started(
        spec: &ContainerSpec,
        handle: &ContainerAsync<GenericImage>,
        stdout: File,
        stderr: File,
    ) -> Result<Self> {
        let id = handle.id().to_string();
        let docker = engine::client()?;
        let follower = Follower::start(docker.clone(), &id, stdout, stderr);
        let sidecar = crate::probe::engine::docker_host()
            .ok()
            .and_then(|host| Sidecar::watch(&id, &host));
        let inspected = runtime::block_on(async {
            docker
                .inspect_container(&id, None)
                .await
                .map_err(anyhow::Error::from)
        })??;
        let pid = inspected.state.as_ref().and_then(|s| s.pid).unwrap_or(0);
        let shared = match &spec.sharing {
            Sharing::Host { mounts } => Shared::Host {
                mounts: mounts.clone(),
            },
            Sharing::Isolated(iso) => {
                Shared::Isolated(Running::new(spec, iso, handle, &inspected)?)
            }
        };
        let mut logs = vec![spec.daemon_log.clone(), spec.stderr_file()];
        if spec.stdout_file() != spec.daemon_log {
            logs.push(spec.stdout_file());
        }
        Ok(Self {
            name: spec.name.clone(),
            host_pid: local_pid(pid, &id),
            id,
            image: spec.image.clone(),
            handle: Mutex::new(None),
            sidecar: Mutex::new(sidecar),
            follower,
            shared,
            logs,
        })
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn short_id(&self) -> &str {
        let id = self.id();
        &id[..id.len().min(12)]
    }

    /// `Some(description)` once the daemon has exited (or the container
    /// was removed behind the harness's back), `None` while it runs or when
    /// the engine cannot tell right now.
    pub fn exited(&self) -> Option<ExitStatus> {
        let inspected = runtime::block_on(async {
            engine::client()?
                .inspect_container(&self.id, None)
                .await
                .map_err(anyhow::Error::from)
        })
        .and_then(|r| r);
        match inspected {
            Ok(info) => {
                let state = info.state?;
                if state.running == Some(true) {
                    return None;
                }
                let code = state.exit_code.unwrap_or(-1);
                let mut what = format!(
                    "container {} ({}) exited with code {code}",
                    self.short_id(),
                    self.image,
                );
                if state.oom_killed == Some(true) {
                    what.push_str(", killed for lack of memory");
                }
                let engine_error = state.error.filter(|e| !e.is_empty());
                let trouble = state.oom_killed == Some(true) || engine_error.is_some();
                if let Some(err) = engine_error {
                    what.push_str(&format!(", engine error: {err}"));
                }
                Some(ExitStatus::from_engine(code, trouble, what))
            }
            Err(e) if format!("{e:#}").contains("404") => Some(ExitStatus::unknown(format!(
                "container {} ({}) no longer exists",
                self.short_id(),
                self.image
            ))),
            Err(_) => None,
        }
    }

    /// Polls until the daemon exits or `timeout` passes; whether it exited.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        // Each check asks the engine: less often than for a process.
        poll_exit(timeout, Duration::from_millis(50), || {
            self.exited().is_some()
        })
    }

    /// The last `n` lines of the daemon's log, then of its stderr and
    /// stdout, each labelled with its path.
    pub fn log_tail(&self, n: usize) -> String {
        labelled_tails(&self.name, &self.logs, n)
    }

    /// Stops the daemon: SIGTERM, up to `grace` to exit, then SIGKILL. The
    /// container (and its logs) stay until [`Container::remove`] or drop.
    pub fn stop(&self, grace: Duration) {
        let guard = self.handle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = guard.as_ref() {
            let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
            let _ = runtime::block_on(handle.stop_with_timeout(Some(secs)));
        }
    }

    /// Removes the container, killing the daemon if it still runs, once
    /// its output is copied and, where it lives apart, its state directory
    /// fetched back. Idempotent.
    pub fn remove(&self) {
        let taken = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = taken {
            if self.exited().is_some() {
                self.follower.wait_done(Duration::from_secs(5));
            }
            if let Shared::Isolated(running) = &self.shared {
                running.finish(&self.id, &self.name);
            }
            // rm() consumes the handle and marks it removed, so its own
            // Drop (which needs a runtime context) has nothing left to do.
            let _ = runtime::block_on(handle.rm());
        }
        drop(
            self.sidecar
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
    }

    /// Stops gracefully, then removes.
    pub fn shutdown(&self, grace: Duration) {
        self.stop(grace);
        self.remove();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(5));
    }
}

/// A container is the docker backend's daemon.
impl Daemon for Container {
    /// The daemon's process, the init's child.
    fn pid(&self) -> Option<u32> {
        let init = self.host_pid?;
        let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).ok();
        let daemon = children.and_then(|c| c.split_whitespace().next()?.parse().ok());
        Some(daemon.unwrap_or(init))
    }

    fn exited(&self) -> Option<ExitStatus> {
        Container::exited(self)
    }

    fn wait_exit(&self, timeout: Duration) -> bool {
        Container::wait_exit(self, timeout)
    }

    fn kill(&self, grace: Duration) {
        self.shutdown(grace);
    }

    fn log_tail(&self, n: usize) -> String {
        Container::log_tail(self, n)
    }

    fn address(&self, port: u16, from: Side) -> Option<(String, u16)> {
        match (&self.shared, from) {
            // Host networking: it binds this machine's loopback.
            (Shared::Host { .. }, Side::ThisMachine) => Some(("127.0.0.1".into(), port)),
            (Shared::Host { .. }, Side::ContainerNetwork) => None,
            (Shared::Isolated(running), side) => running.address(port, side),
        }
    }

    fn provide(&self, path: &Path) -> Result<(), String> {
        match &self.shared {
            Shared::Host { mounts } => host::check_visible(path, mounts, &self.name),
            Shared::Isolated(running) => running.provide(&self.id, path),
        }
    }

    fn fetch_dir(&self, dir: &Path) -> Result<(), String> {
        match &self.shared {
            Shared::Host { .. } => Ok(()),
            Shared::Isolated(_) => isolated::fetch_dir(&self.id, dir).map_err(|e| format!("{e:#}")),
        }
    }
}

/// Starts `request` for `spec`, explaining a failure.
fn run(
    spec: &ContainerSpec,
    request: ContainerRequest<GenericImage>,
) -> Result<ContainerAsync<GenericImage>> {
    let mut request = request.with_env_var("HOME", "/tmp");
    for (key, value) in owner::labels(&spec.owner_dir, &spec.name) {
        request = request.with_label(key, value);
    }
    for (key, value) in &spec.env {
        request = request.with_env_var(key, value);
    }
    if let Some(dir) = &spec.workdir {
        request = request.with_working_dir(dir.display().to_string());
    }
    runtime::block_on(request.start())?.map_err(|e| start_error(spec, e))
}

/// Starts an isolated container. A restart asks for the host ports it had:
/// the engine may still be releasing them from the container just removed
/// (so it is asked again for a while), and another container may have
/// taken one meanwhile (then the engine picks new ones).
fn start_isolated(
    spec: &ContainerSpec,
    iso: &IsolatedSpec,
) -> Result<ContainerAsync<GenericImage>> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match run(spec, isolated::request(spec, iso, false)?) {
            Err(e) if is_port_taken(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) if is_port_taken(&e) => return run(spec, isolated::request(spec, iso, true)?),
            other => return other,
        }
    }
}

/// Whether a start failed because a host port asked for is in use.
fn is_port_taken(err: &anyhow::Error) -> bool {
    let text = format!("{err:#}");
    text.contains("port is already allocated") || text.contains("address already in use")
}

/// The container's main process as a process of this machine: `pid` (the
/// engine's view) if the engine runs on this kernel, which the process's
/// cgroup naming the container shows. `None` for a remote engine, a VM,
/// or off Linux.
fn local_pid(pid: i64, id: &str) -> Option<u32> {
    let pid = u32::try_from(pid).ok().filter(|p| *p > 0)?;
    if cfg!(target_os = "linux") {
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        cgroup.contains(id).then_some(pid)
    } else {
        None
    }
}

/// Explains a failed container start, with a hint when the image is the
/// likely cause.
fn start_error(spec: &ContainerSpec, err: testcontainers::TestcontainersError) -> anyhow::Error {
    let what = format!(
        "starting {} in a container from {} ({} {})",
        spec.name,
        spec.image,
        spec.entrypoint,
        spec.args.join(" ")
    );
    start_error_text(&what, &spec.image, &err)
}
