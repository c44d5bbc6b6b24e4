//! Containers that share nothing with this machine ([`Sharing::Isolated`]),
//! for an engine that runs elsewhere (a remote `DOCKER_HOST`, a CI job's
//! docker-in-docker service, Docker Desktop's VM):
//! - each `Network`'s containers are on a container network of their own
//!   (`isolation`); daemons reach each other at their addresses there, and
//!   this machine reaches their ports where the engine publishes them,
//!   read back after the start;
//! - paths are the same inside and out, but nothing is mounted: the files
//!   a daemon reads are copied in before it starts (`plugin start` of a
//!   file here copies it in first), its state directory is a volume that
//!   outlives restarts, and is copied back here when it stops (for the
//!   teardown checks and kept directories);
//! - its log goes to stdout, which is copied to its usual log file here;
//! - lightningd's RPC socket is forwarded to its usual path here
//!   (`forward`);
//! - it runs as the image's user (a volume belongs to root): nothing it
//!   writes lands on this machine but what the harness copies.
//!
//! [`Sharing::Isolated`]: super::container::Sharing::Isolated

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, Context, Result};
use futures_util::TryStreamExt;
use testcontainers::bollard::models::{ContainerInspectResponse, PortBinding};
use testcontainers::bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

use super::archive;
use super::forward::{SocketForward, FORWARD_PORT, PYTHON, PYTHON_VAR, WRAPPER};
use super::isolation::Isolation;
use super::spec::{ContainerSpec, IsolatedSpec};
use super::{engine, runtime};
use crate::daemon::boundary::Side;

/// Every port to publish: the daemon's, and the RPC forwarder's.
fn all_ports(iso: &IsolatedSpec) -> Vec<u16> {
    let mut ports = iso.ports.clone();
    if iso.socket.is_some() {
        ports.push(FORWARD_PORT);
    }
    ports
}

/// The request for `spec`, isolated as `iso` says. Ports are published
/// where they were last time (a restarted daemon keeps its address), or
/// where the engine likes when `fresh_ports` or on the first start.
pub(crate) fn request(
    spec: &ContainerSpec,
    iso: &IsolatedSpec,
    fresh_ports: bool,
) -> Result<ContainerRequest<GenericImage>> {
    let ports = all_ports(iso);
    let again: Option<Vec<(u16, u16)>> = if fresh_ports {
        None
    } else {
        ports
            .iter()
            .map(|p| iso.net.published(&spec.name, *p).map(|h| (h, *p)))
            .collect()
    };
    let mut image = GenericImage::new(spec.image.name(), spec.image.tag());
    for port in &ports {
        image = image.with_exposed_port(port.tcp());
    }
    let (entrypoint, cmd) = match &iso.socket {
        Some(socket) => {
            let mut cmd = vec![
                "-c".to_string(),
                WRAPPER.to_string(),
                "itest-rpc-forward".to_string(),
                socket.display().to_string(),
                FORWARD_PORT.to_string(),
                spec.entrypoint.clone(),
            ];
            cmd.extend(spec.args.iter().cloned());
            ("sh".to_string(), cmd)
        }
        None => (spec.entrypoint.clone(), spec.args.clone()),
    };
    let mut request = image
        .with_entrypoint(&entrypoint)
        .with_cmd(cmd)
        .with_network(iso.net.network());
    if iso.socket.is_some() {
        request = request.with_env_var(PYTHON_VAR, PYTHON);
    }
    // IPv4 only: testcontainers reads the IPv4 mapping back, and the
    // engine picks IPv6 ports apart from IPv4 ones, so asking for the same
    // port again on both would collide with some other container's IPv6
    // mapping. An empty host port lets the engine pick.
    let bindings: HashMap<String, Option<Vec<PortBinding>>> = ports
        .iter()
        .map(|port| {
            let host_port = again
                .as_ref()
                .and_then(|a| a.iter().find(|(_, p)| p == port))
                .map_or_else(String::new, |(h, _)| h.to_string());
            let binding = PortBinding {
                host_ip: Some("0.0.0.0".into()),
                host_port: Some(host_port),
            };
            (format!("{port}/tcp"), Some(vec![binding]))
        })
        .collect();
    request = request.with_host_config_modifier(move |host| {
        host.publish_all_ports = Some(false);
        host.port_bindings = Some(bindings.clone());
        host.init = Some(true);
    });
    if let Some(state) = &iso.state {
        let volume = iso.net.volume(&spec.name, state)?;
        request = request.with_mount(Mount::volume_mount(volume, state.display().to_string()));
    }
    let (os, arch) = iso.net.platform();
    for input in &iso.inputs {
        if !input.is_absolute() {
            continue;
        }
        anyhow::ensure!(
            input.is_file(),
            "{}: {} is not a file of this machine, so it cannot be copied into the container",
            spec.name,
            input.display()
        );
        archive::check_runs_on(input, os, arch).map_err(|e| anyhow!("{}: {e}", spec.name))?;
        for file in archive::with_companions(input) {
            request = request.with_copy_to(file.display().to_string(), file);
        }
    }
    for dir in &iso.dirs {
        request = request.with_copy_to(dir.display().to_string(), empty_dir()?);
    }
    Ok(request)
}

/// An empty directory of this machine, copied to make empty ones.
fn empty_dir() -> Result<PathBuf> {
    static EMPTY: OnceLock<Result<tempfile::TempDir, String>> = OnceLock::new();
    EMPTY
        .get_or_init(|| tempfile::tempdir().map_err(|e| e.to_string()))
        .as_ref()
        .map(|d| d.path().to_path_buf())
        .map_err(|e| anyhow!("creating an empty directory: {e}"))
}

/// What an isolated container is once started.
#[derive(Debug)]
pub(crate) struct Running {
    net: Arc<Isolation>,
    /// Where this machine reaches published ports.
    host: String,
    /// Container port -> host port.
    published: HashMap<u16, u16>,
    /// Its address on the container network (`None`: it exited at once).
    ip: Option<String>,
    /// The RPC socket here; `None` once the container is removed.
    forward: Mutex<Option<SocketForward>>,
    /// The state directory to fetch back when it stops.
    fetch: Option<PathBuf>,
}

impl Running {
    /// Reads back the published ports and the address of the container
    /// `handle` (whose inspection is `inspected`), and opens its socket
    /// forward.
    pub fn new(
        spec: &ContainerSpec,
        iso: &IsolatedSpec,
        handle: &ContainerAsync<GenericImage>,
        inspected: &ContainerInspectResponse,
    ) -> Result<Self> {
        let host = runtime::block_on(handle.get_host())?
            .with_context(|| format!("{}: where its ports are published", spec.name))?
            .to_string();
        let host = ip_of(&host)?;
        let mut published = HashMap::new();
        let mut missing = Vec::new();
        for port in all_ports(iso) {
            match runtime::block_on(handle.get_host_port_ipv4(port.tcp()))? {
                Ok(host_port) => {
                    iso.net.remember(&spec.name, port, host_port);
                    published.insert(port, host_port);
                }
                Err(e) => missing.push(format!("where port {port} is published ({e})")),
            }
        }
        let ip = inspected
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| n.get(iso.net.network()))
            .and_then(|e| e.ip_address.clone())
            .filter(|ip| !ip.is_empty());
        if ip.is_none() {
            missing.push(format!("its address on network {}", iso.net.network()));
        }
        // A daemon that exited at once has neither; it is explained by its
        // exit and its log, as a native one is.
        let running = inspected.state.as_ref().and_then(|s| s.running) == Some(true);
        if !missing.is_empty() && running {
            anyhow::bail!(
                "{}: the engine does not say {}",
                spec.name,
                missing.join(", nor ")
            );
        }
        let forward = match (&iso.socket, published.get(&FORWARD_PORT)) {
            (Some(socket), Some(port)) => Some(SocketForward::start(socket, &host, *port)?),
            _ => None,
        };
        Ok(Self {
            net: iso.net.clone(),
            host,
            published,
            ip,
            forward: Mutex::new(forward),
            fetch: iso.state.clone().filter(|_| iso.fetch_state),
        })
    }

    /// Where `from` reaches the daemon's `port`.
    pub fn address(&self, port: u16, from: Side) -> Option<(String, u16)> {
        match from {
            Side::ThisMachine => self.published.get(&port).map(|p| (self.host.clone(), *p)),
            Side::ContainerNetwork => self.ip.clone().map(|ip| (ip, port)),
        }
    }

    /// Copies the file at `path` of this machine into the running
    /// container `id` at the same path (a script with its directory, see
    /// `archive::with_companions`). A relative path, or one that
    /// exists nowhere, is left for the daemon to answer for, as it would
    /// natively.
    pub fn provide(&self, id: &str, path: &Path) -> Result<(), String> {
        if !path.is_absolute() || !path.is_file() {
            return Ok(());
        }
        let (os, arch) = self.net.platform();
        archive::check_runs_on(path, os, arch)?;
        let copied = archive::files(&archive::with_companions(path)).and_then(|tar| {
            let options = UploadToContainerOptionsBuilder::new().path("/").build();
            runtime::block_on(async {
                engine::client()?
                    .upload_to_container(
                        id,
                        Some(options),
                        testcontainers::bollard::body_full(tar.into()),
                    )
                    .await
                    .map_err(anyhow::Error::from)
            })?
        });
        copied.map_err(|e| format!("copying {} into the container: {e:#}", path.display()))
    }

    /// Before the container `id` of daemon `name` is removed: closes the
    /// socket forward and fetches the state directory back. A failure is
    /// reported, not fatal: the daemon's log is here already.
    pub fn finish(&self, id: &str, name: &str) {
        drop(
            self.forward
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let Some(dir) = &self.fetch else { return };
        let fetched = download(id, dir).and_then(|tar| archive::unpack_dir(&tar, dir));
        if let Err(e) = fetched {
            eprintln!(
                "itest: {name}: could not copy {} back from its container: {e:#}",
                dir.display()
            );
        }
    }
}

/// The directory `dir` of container `id`, as the engine's tar archive.
fn download(id: &str, dir: &Path) -> Result<Vec<u8>> {
    runtime::block_on(async {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(&dir.display().to_string())
            .build();
        let chunks: Vec<_> = engine::client()?
            .download_from_container(id, Some(options))
            .try_collect()
            .await?;
        anyhow::Ok(chunks.concat())
    })
    .and_then(|r| r)
}

/// Copies the directory `dir` of the running container `id` to the same
/// path here (files only added or replaced). A directory the daemon has
/// not written yet is no error: there is nothing to copy.
pub(crate) fn fetch_dir(id: &str, dir: &Path) -> Result<()> {
    let tar = download(id, dir);
    match tar {
        Ok(tar) => archive::unpack_dir(&tar, dir).map(|_| ()),
        Err(e) if format!("{e:#}").contains("404") || format!("{e:#}").contains("No such") => {
            Ok(())
        }
        Err(e) => Err(e.context(format!("copying {} back from its container", dir.display()))),
    }
}

/// `host` as an IP address: lightningd, run with `--disable-dns`, connects
/// to addresses only.
fn ip_of(host: &str) -> Result<String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(host.to_string());
    }
    let addrs: Vec<_> = (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip().to_string())
        .ok_or_else(|| anyhow!("{host} resolves to no address"))
}
