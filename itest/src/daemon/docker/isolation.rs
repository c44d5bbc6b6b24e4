//! What one `Network`'s isolated containers share on the engine: a
//! container network of their own, a volume per daemon state directory,
//! and the way back to this machine.
//!
//! Created when the network places its first daemon, labelled with its
//! owner like the containers (so a later run removes it if this process is
//! killed), and removed once the last container and placement holding it
//! are gone.

use std::collections::HashMap;
use std::net::{IpAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use testcontainers::bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use testcontainers::bollard::query_parameters::RemoveVolumeOptionsBuilder;

use super::engine::{self, EngineInfo};
use super::{owner, runtime};
use crate::probe::engine as probe;

/// How containers reach this machine (the test process, a native daemon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WayBack {
    /// What a container connects to.
    pub host: String,
    /// The address of this machine to listen on for them.
    pub bind: IpAddr,
}

/// One network's share of the engine; see the module docs.
#[derive(Debug)]
pub(crate) struct Isolation {
    network: String,
    owner_dir: PathBuf,
    info: EngineInfo,
    /// Volume name by the directory it holds.
    volumes: Mutex<HashMap<PathBuf, String>>,
    /// The host port each (daemon, container port) was published on, so
    /// that a restarted daemon keeps its address.
    published: Mutex<HashMap<(String, u16), u16>>,
    way_back: OnceLock<Result<WayBack, String>>,
}

impl Isolation {
    /// Creates the container network for the `Network` in `owner_dir`.
    pub fn create(owner_dir: &Path) -> Result<Self> {
        let info = engine::info()?;
        let network = network_name(owner_dir);
        let labels: HashMap<String, String> =
            owner::labels(owner_dir, "network").into_iter().collect();
        let request = NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        };
        runtime::block_on(async {
            engine::client()?
                .create_network(request)
                .await
                .map_err(anyhow::Error::from)
        })?
        .with_context(|| format!("creating the container network {network}"))?;
        Ok(Self {
            network,
            owner_dir: owner_dir.to_path_buf(),
            info,
            volumes: Mutex::default(),
            published: Mutex::default(),
            way_back: OnceLock::new(),
        })
    }

    /// The container network's name.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// What the engine's containers run, for checking programs copied in.
    pub fn platform(&self) -> (&str, &str) {
        (&self.info.os_type, &self.info.architecture)
    }

    /// The volume holding `daemon`'s directory `dir`, created (labelled)
    /// on first use; the same volume for every later start.
    pub fn volume(&self, daemon: &str, dir: &Path) -> Result<String> {
        let mut volumes = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(name) = volumes.get(dir) {
            return Ok(name.clone());
        }
        let name = format!("{}-{daemon}", self.network);
        let labels: HashMap<String, String> =
            owner::labels(&self.owner_dir, daemon).into_iter().collect();
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(labels),
            ..Default::default()
        };
        runtime::block_on(async {
            engine::client()?
                .create_volume(request)
                .await
                .map_err(anyhow::Error::from)
        })?
        .with_context(|| format!("creating volume {name} for {}", dir.display()))?;
        volumes.insert(dir.to_path_buf(), name.clone());
        Ok(name)
    }

    /// The host port `daemon`'s `port` was last published on.
    pub fn published(&self, daemon: &str, port: u16) -> Option<u16> {
        let published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        published.get(&(daemon.to_string(), port)).copied()
    }

    /// Remembers where `daemon`'s `port` is published.
    pub fn remember(&self, daemon: &str, port: u16, host_port: u16) {
        let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
        published.insert((daemon.to_string(), port), host_port);
    }

    /// How this network's containers reach this machine (found once):
    /// - a `tcp://` engine: the local address of a connection to it, unless
    ///   that is a loopback address (a tunnel, or an engine on this
    ///   machine, handled next);
    /// - Docker Desktop: `host.docker.internal`, which it routes to this
    ///   machine's loopback;
    /// - an engine on this machine: the container network's gateway, an
    ///   address of this machine.
    ///
    /// Anything else fails with the reason: the containers cannot reach a
    /// daemon of this machine then.
    pub fn way_back(&self) -> Result<WayBack> {
        self.way_back
            .get_or_init(|| self.find_way_back().map_err(|e| format!("{e:#}")))
            .clone()
            .map_err(anyhow::Error::msg)
    }

    fn find_way_back(&self) -> Result<WayBack> {
        let located = probe::located().map_err(anyhow::Error::msg)?;
        if let Some(authority) = probe::tcp_authority(&located.host) {
            let addr = authority
                .to_socket_addrs()
                .with_context(|| format!("resolving {authority}"))?
                .next()
                .ok_or_else(|| anyhow!("{authority} resolves to no address"))?;
            let conn = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .with_context(|| format!("connecting to the engine at {addr}"))?;
            let local = conn.local_addr()?.ip();
            if !local.is_loopback() {
                return Ok(WayBack {
                    host: local.to_string(),
                    bind: local,
                });
            }
        }
        if self.info.is_desktop() {
            return Ok(WayBack {
                host: "host.docker.internal".into(),
                bind: IpAddr::from([127, 0, 0, 1]),
            });
        }
        let gateway = self.gateway()?;
        if TcpListener::bind((gateway, 0)).is_ok() {
            return Ok(WayBack {
                host: gateway.to_string(),
                bind: gateway,
            });
        }
        bail!(
            "containers of the engine at {} cannot reach this machine: its network {}'s gateway {gateway} is not an address here, and the engine is not reached over a routable TCP address. Run that daemon in a container too, or reach the engine by an address its containers can route back to",
            located.host,
            self.network
        )
    }

    /// The container network's gateway address.
    fn gateway(&self) -> Result<IpAddr> {
        let inspected = runtime::block_on(async {
            engine::client()?
                .inspect_network(&self.network, None)
                .await
                .map_err(anyhow::Error::from)
        })??;
        inspected
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.gateway)
            .find_map(|g| g.parse().ok())
            .ok_or_else(|| anyhow!("network {} has no gateway address", self.network))
    }
}

/// `itest-<the network directory's name>-<pid>`, in the characters the
/// engine allows in network and volume names (`[a-zA-Z0-9_.-]`).
fn network_name(owner_dir: &Path) -> String {
    let base: String = owner_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = base
        .trim_start_matches("itest-")
        .trim_start_matches(['.', '-', '_']);
    format!("itest-{base}-{}", std::process::id())
}

impl Drop for Isolation {
    fn drop(&mut self) {
        let volumes: Vec<String> = self
            .volumes
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let network = self.network.clone();
        let result = runtime::block_on(async move {
            let docker = engine::client()?;
            for volume in &volumes {
                let force = RemoveVolumeOptionsBuilder::new().force(true).build();
                if let Err(e) = docker.remove_volume(volume, Some(force)).await {
                    eprintln!("itest: could not remove volume {volume}: {e}");
                }
            }
            docker
                .remove_network(&network)
                .await
                .with_context(|| format!("removing container network {network}"))
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => eprintln!("itest: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ones_the_engine_accepts() {
        let pid = std::process::id();
        assert_eq!(
            network_name(Path::new("/tmp/itest-aB3xYz")),
            format!("itest-aB3xYz-{pid}")
        );
        assert_eq!(
            network_name(Path::new("/tmp/.tmpAb c")),
            format!("itest-tmpAb_c-{pid}")
        );
        assert_eq!(network_name(Path::new("/")), format!("itest--{pid}"));
    }
}
