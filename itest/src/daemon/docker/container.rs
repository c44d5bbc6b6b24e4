//! One daemon in one container, run so that the host sees it as if it ran
//! natively.
//!
//! - The harness sets the entrypoint and arguments, so any image with the
//!   binary on its PATH works, whatever its own entrypoint script does.
//! - Host networking: the daemon binds the loopback ports the harness
//!   reserved, exactly as a native one does.
//! - Directories are bind-mounted at the same absolute paths, so file
//!   names in arguments, unix sockets and logs are the same inside and out.
//! - The process runs as the host user's uid:gid, so whatever it writes can
//!   be deleted by the test.
//! - Its stdout and stderr are copied to `<log_dir>/<name>.stdout` and
//!   `.stderr`, the files a native daemon writes, so log tails and kept
//!   directories look the same.
//! - Owner labels let a later run remove it if this process is killed
//!   (see `owner`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use testcontainers::bollard::Docker;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::image::ImageRef;
use super::sidecar::Sidecar;
use super::{owner, runtime};
use crate::daemon::boundary::{Daemon, ExitStatus};
use crate::logs::tails::labelled_tails;

/// What to run in a container.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The daemon's name in logs and errors (`bitcoind`, `l1`).
    pub name: String,
    /// The image to run.
    pub image: ImageRef,
    /// The program to run, looked up on the image's PATH.
    pub entrypoint: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Host directories or files the container sees at the same paths.
    pub mounts: Vec<PathBuf>,
    /// Environment variables set in the container.
    pub env: Vec<(String, String)>,
    /// Where `<name>.stdout` and `<name>.stderr` are written.
    pub log_dir: PathBuf,
    /// The daemon's own log file, shown first in log tails.
    pub daemon_log: PathBuf,
    /// The network directory, recorded in the owner labels.
    pub owner_dir: PathBuf,
    /// Working directory inside the container.
    pub workdir: Option<PathBuf>,
}

/// A running (or exited, not yet removed) container. Removed on drop.
pub struct Container {
    name: String,
    id: String,
    image: ImageRef,
    host_pid: u32,
    /// `None` once removed.
    handle: Mutex<Option<ContainerAsync<GenericImage>>>,
    /// Removes the container if this process dies without `Drop`.
    sidecar: Mutex<Option<Sidecar>>,
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

/// The engine client for inspecting and listing containers: one per
/// process (it keeps its connections), for the `DOCKER_HOST` of first use.
pub(crate) fn engine() -> Result<Docker> {
    static CLIENT: OnceLock<Docker> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let host = crate::probe::engine::docker_host();
    let client = Docker::connect_with_host(&host)
        .with_context(|| format!("connecting to Docker at {host}"))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

impl Container {
    /// Creates and starts the container, and returns once the engine says
    /// it started (the caller waits for the daemon itself to be ready).
    /// Every mount must exist on the host.
    pub fn start(spec: &ContainerSpec) -> Result<Self> {
        let stdout = open_log(&spec.log_dir.join(format!("{}.stdout", spec.name)))?;
        let stderr = open_log(&spec.log_dir.join(format!("{}.stderr", spec.name)))?;
        let request = request(spec, stdout, stderr)?;
        let handle = runtime::block_on(request.start())?.map_err(|e| start_error(spec, e))?;
        let id = handle.id().to_string();
        let sidecar = Sidecar::watch(&id, &crate::probe::engine::docker_host());
        let host_pid = runtime::block_on(async {
            let docker = engine()?;
            let state = docker.inspect_container(&id, None).await?.state;
            anyhow::Ok(state.and_then(|s| s.pid).unwrap_or(0))
        })??;
        Ok(Self {
            name: spec.name.clone(),
            id,
            image: spec.image.clone(),
            host_pid: u32::try_from(host_pid).unwrap_or(0),
            handle: Mutex::new(Some(handle)),
            sidecar: Mutex::new(sidecar),
            logs: vec![
                spec.daemon_log.clone(),
                spec.log_dir.join(format!("{}.stderr", spec.name)),
                spec.log_dir.join(format!("{}.stdout", spec.name)),
            ],
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
            engine()?
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
        let deadline = Instant::now() + timeout;
        loop {
            if self.exited().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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

    /// Removes the container, killing the daemon if it still runs.
    /// Idempotent.
    pub fn remove(&self) {
        let taken = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = taken {
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
    fn pid(&self) -> Option<u32> {
        (self.host_pid > 0).then_some(self.host_pid)
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
}

/// Runs `entrypoint args` in a throw-away container from `image` and
/// returns what it printed (stdout, then stderr) once it exits, e.g.
/// `lightningd --version`.
pub fn output(
    image: &ImageRef,
    entrypoint: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<String> {
    let request = GenericImage::new(image.name(), image.tag())
        .with_entrypoint(entrypoint)
        .with_cmd(args.iter().map(|a| a.to_string()))
        .with_network("none")
        .with_user(host_user())
        .with_env_var("HOME", "/tmp");
    let shown = format!("{entrypoint} {}", args.join(" "));
    let spec_name = format!("`{shown}` in {image}");
    runtime::block_on(async {
        let handle = request
            .start()
            .await
            .map_err(|e| start_error_text(&spec_name, image, &e))?;
        let docker = engine()?;
        let deadline = Instant::now() + timeout;
        loop {
            let state = docker.inspect_container(handle.id(), None).await?.state;
            if state.and_then(|s| s.running) != Some(true) {
                break;
            }
            if Instant::now() >= deadline {
                let _ = handle.rm().await;
                return Err(anyhow!(
                    "{spec_name} did not exit within {}s",
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut text = String::from_utf8_lossy(&handle.stdout_to_vec().await?).into_owned();
        text.push_str(&String::from_utf8_lossy(&handle.stderr_to_vec().await?));
        let _ = handle.rm().await;
        anyhow::Ok(text)
    })?
}

/// The host user as `uid:gid`, which containers run as.
fn host_user() -> String {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    format!("{uid}:{gid}")
}

fn open_log(path: &Path) -> Result<Arc<Mutex<File>>> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(Arc::new(Mutex::new(file)))
}

/// The testcontainers request for `spec`.
fn request(
    spec: &ContainerSpec,
    stdout: Arc<Mutex<File>>,
    stderr: Arc<Mutex<File>>,
) -> Result<testcontainers::ContainerRequest<GenericImage>> {
    let mut request = GenericImage::new(spec.image.name(), spec.image.tag())
        .with_entrypoint(&spec.entrypoint)
        .with_cmd(spec.args.clone())
        .with_network("host")
        .with_user(host_user())
        // The image's HOME may not be writable by the host user.
        .with_env_var("HOME", "/tmp")
        .with_log_consumer(move |frame: &LogFrame| {
            let (file, bytes) = match frame {
                LogFrame::StdOut(b) => (&stdout, b),
                LogFrame::StdErr(b) => (&stderr, b),
            };
            if let Ok(mut f) = file.lock() {
                let _ = f.write_all(bytes);
            }
        });
    for (key, value) in owner::labels(&spec.owner_dir, &spec.name) {
        request = request.with_label(key, value);
    }
    for (key, value) in &spec.env {
        request = request.with_env_var(key, value);
    }
    for path in &spec.mounts {
        if !path.is_absolute() {
            return Err(anyhow!(
                "{}: mount {} is not an absolute path",
                spec.name,
                path.display()
            ));
        }
        if !path.exists() {
            return Err(anyhow!(
                "{}: cannot mount {} into the container: it does not exist on the host",
                spec.name,
                path.display()
            ));
        }
        let p = path.display().to_string();
        request = request.with_mount(Mount::bind_mount(p.clone(), p));
    }
    if let Some(dir) = &spec.workdir {
        request = request.with_working_dir(dir.display().to_string());
    }
    Ok(request)
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

fn start_error_text(
    what: &str,
    image: &ImageRef,
    err: &testcontainers::TestcontainersError,
) -> anyhow::Error {
    if let Err(reason) = crate::probe::engine::check() {
        return anyhow!("{what}: {reason}");
    }
    let text = format!("{err}");
    let hint = if text.contains("pull") || text.contains("No such image") {
        format!(
            "\nhint: {image} is not in the local image store and could not be pulled; on a machine without a registry build one with scripts/images.sh (see itest/README.md, \"Backends and images\") and name it in ITEST_BITCOIND_IMAGE / ITEST_LIGHTNINGD_IMAGE"
        )
    } else {
        String::new()
    };
    anyhow!("{what}: {text}{hint}")
}
