//! Nodes whose wallet is in PostgreSQL (pyln-testing's
//! `PostgresDbProvider`).
//!
//! - `provider`: [`DbProvider`], the choice per node or network;
//! - `server`: the network's server ([`Postgres`]), `initdb` to teardown;
//! - `user`: who runs it (root may not);
//! - `client`: connecting, creating databases, reading rows as JSON;
//! - `support`: whether a lightningd has the driver at all.
//!
//! What this machine needs is found by `crate::probe::postgres`, which
//! build.rs uses too for [`needs_postgres!`](crate::needs_postgres).

mod client;
pub(crate) mod provider;
mod server;
mod support;
mod user;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub use client::DbRow;
pub use provider::{DbProvider, DB_PROVIDER_VAR};
pub use server::Postgres;
pub(crate) use support::check_driver;

use crate::daemon::boundary::Side;
use crate::daemon::placement::Placement;
use crate::error::{Error, Result};
use crate::probe::postgres::find_bin_dir;

/// A network's PostgreSQL server, started by its first PostgreSQL node
/// (or ahead of time, while bitcoind starts) and stopped with the
/// network.
#[derive(Debug)]
pub(crate) struct PostgresSlot {
    /// This machine, with the network's way back from isolated containers.
    placement: Placement,
    /// The network's directory.
    root: PathBuf,
    /// [`Conf::postgres_bin_dir`](crate::Conf::postgres_bin_dir).
    bin_dir: Option<PathBuf>,
    timeout: Duration,
    server: Mutex<Option<Postgres>>,
}

impl PostgresSlot {
    pub fn new(
        placement: Placement,
        root: &Path,
        bin_dir: Option<PathBuf>,
        timeout: Duration,
    ) -> Self {
        Self {
            placement,
            root: root.to_path_buf(),
            bin_dir,
            timeout,
            server: Mutex::default(),
        }
    }

    /// The server, started now if it is not running yet, for lightningd
    /// nodes on `clients`.
    pub fn get_or_start(&self, clients: Side) -> Result<Postgres> {
        let mut server = self.server.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = server.as_ref() {
            return Ok(running.clone());
        }
        let bin_dir = find_bin_dir(
            self.bin_dir.clone().map(Into::into),
            "Conf::postgres_bin_dir (default ITEST_POSTGRES_BINDIR)",
            std::env::var_os("PATH"),
        )
        .map_err(Error::msg)?;
        let started = Postgres::start(&self.placement, clients, &self.root, &bin_dir, self.timeout)
            .map_err(|e| {
                e.context(format!(
                    "starting PostgreSQL for the network in {}",
                    self.root.display()
                ))
            })?;
        *server = Some(started.clone());
        Ok(started)
    }

    /// The server, if it was started.
    pub fn get(&self) -> Option<Postgres> {
        self.server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops the server (after the nodes), also if a test still holds a
    /// handle to it.
    pub fn stop(&self) {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            server.shutdown();
        }
    }
}
