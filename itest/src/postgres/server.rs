//! The PostgreSQL server of a network's PostgreSQL nodes.
//!
//! One server per network, started when its first PostgreSQL node is
//! (while bitcoind starts, when the network is built with one), with a
//! database per node. Its files are `<network dir>/postgres/`: `data/`
//! (made by `initdb`), `initdb.log`, and the server's log in
//! `postgres.stderr`, so a failed test keeps them with the nodes' logs.
//! Measured here (PostgreSQL 15, 2 cores): `initdb` 0.7 s, the server's
//! start 0.06 s, each `CREATE DATABASE` 0.15 s. Sharing one server
//! between networks would save the 0.7 s, but would outlive the network
//! whose directory holds it.
//!
//! It runs on this machine whatever the backends, as a node's bitcoind
//! proxy does: natively and on the docker backend's shared network,
//! lightningd reaches it on loopback; from isolated containers, by the
//! way back to this machine (`Placement::test_process_endpoint`). It is a
//! throw-away test server: `trust` authentication (no password) on the
//! addresses it listens on only, and no `fsync`.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::daemon::boundary::{Daemon, DaemonSpec, Side};
use crate::daemon::placement::{Listener, Placement, Service};
use crate::error::{bail, Context, Error, FromInternal, Result};
use crate::postgres::client::{self, DbRow};
use crate::postgres::user::{self, RunAs};
use crate::wait::wait_until;

/// The superuser `initdb` creates, whom every connection uses.
const SUPERUSER: &str = "postgres";

/// How many lines of the server's logs an error carries.
const TAIL_LINES: usize = 20;

/// A running PostgreSQL server of one network
/// ([`Network::postgres`](crate::Network::postgres)); cloning it is cheap.
/// It stops when the network is dropped (after its nodes).
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

struct Inner {
    // Field order matters for Drop: the process stops before its port is
    // released.
    process: Box<dyn Daemon>,
    _listener: Listener,
    port: u16,
    dir: PathBuf,
    bin_dir: PathBuf,
    timeout: Duration,
    /// The databases created so far.
    databases: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("port", &self.inner.port)
            .field("data_dir", &self.data_dir())
            .field("bin_dir", &self.inner.bin_dir)
            .finish()
    }
}

impl Postgres {
    /// Makes a cluster in `<root>/postgres/data` with the programs in
    /// `bin_dir`, starts the server where `placement` (this machine) says,
    /// for lightningd nodes connecting from `clients`, and waits until it
    /// accepts connections.
    pub(crate) fn start(
        placement: &Placement,
        clients: Side,
        root: &Path,
        bin_dir: &Path,
        timeout: Duration,
    ) -> Result<Self> {
        let dir = root.join("postgres");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let user = user::server_user()?;
        user::hand_over(user.as_ref(), &dir, root)?;
        let data = dir.join("data");
        initdb(bin_dir, &dir, &data, user.as_ref())?;
        let listener = placement.listener(Service::Postgres, clients).internal()?;
        if listener.binds.iter().any(|b| b != "127.0.0.1") {
            // Isolated containers arrive from their own network, or
            // translated to the engine host's address; the listen
            // addresses limit who can connect at all.
            append(
                &data.join("pg_hba.conf"),
                "host all all 0.0.0.0/0 trust\nhost all all ::/0 trust\n",
            )?;
        }
        let mut spec = DaemonSpec::new(
            "postgres",
            bin_dir.join("postgres"),
            server_args(&data, &listener),
            dir.clone(),
            dir.join("initdb.log"),
        );
        spec.run_as = user.as_ref().map(|u| (u.uid, u.gid));
        let process = placement
            .launch(&spec)
            .internal()
            .context("starting PostgreSQL")?;
        let server = Self {
            inner: Arc::new(Inner {
                process,
                port: listener.port,
                _listener: listener,
                dir,
                bin_dir: bin_dir.to_path_buf(),
                timeout,
                databases: Mutex::default(),
            }),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&self) -> Result<()> {
        let dsn = self.dsn("postgres");
        wait_until(
            "PostgreSQL to accept connections",
            self.inner.timeout,
            |last| {
                if let Some(status) = self.inner.process.exited() {
                    bail!(
                        "PostgreSQL exited ({status}) before accepting connections\n{}",
                        self.log_tail()
                    );
                }
                match client::ping(&dsn, Duration::from_secs(5)) {
                    Ok(()) => Ok(Some(())),
                    Err(e) => {
                        *last = e.to_string();
                        Ok(None)
                    }
                }
            },
        )
        .map_err(|e| e.note(self.log_tail()))
    }

    /// The last lines of `initdb`'s output and of the server's log.
    pub(crate) fn log_tail(&self) -> String {
        self.inner.process.log_tail(TAIL_LINES)
    }

    /// Creates the database `name` (once: a node's database outlives its
    /// restarts).
    pub(crate) fn ensure_database(&self, name: &str) -> Result<()> {
        let mut created = self
            .inner
            .databases
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if created.contains(name) {
            return Ok(());
        }
        client::execute(
            &self.dsn("postgres"),
            &format!("CREATE DATABASE \"{name}\""),
            self.inner.timeout,
        )
        .with_context(|| format!("creating the PostgreSQL database {name}"))?;
        created.insert(name.to_string());
        Ok(())
    }

    /// Whether [`Postgres::ensure_database`] made `name`.
    pub(crate) fn has_database(&self, name: &str) -> bool {
        self.inner
            .databases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(name)
    }

    /// Stops the server now, whoever still holds a handle (the network's
    /// teardown, after its nodes).
    pub(crate) fn shutdown(&self) {
        self.inner.shutdown();
    }

    /// The connection string for `database` as a client on `host`'s side
    /// reaches the server (lightningd's `--wallet=`).
    pub(crate) fn dsn_via(&self, host: &str, database: &str) -> String {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        format!(
            "postgres://{SUPERUSER}@{host}:{}/{database}",
            self.inner.port
        )
    }

    /// The connection string for `database` from this machine:
    /// `postgres://postgres@127.0.0.1:<port>/<database>`, for any client
    /// (`psql`, the `postgres` crate, ...).
    pub fn dsn(&self, database: &str) -> String {
        self.dsn_via("127.0.0.1", database)
    }

    /// Runs `sql` on `database` and returns its rows (see
    /// [`Node::db_query`](crate::Node::db_query)).
    pub fn query(&self, database: &str, sql: &str) -> Result<Vec<DbRow>> {
        client::query(&self.dsn(database), sql, self.inner.timeout)
            .map_err(|e| e.context(format!("PostgreSQL database {database}")))
    }

    /// The databases on the server, in name order, without PostgreSQL's
    /// own (`postgres`, `template0`, `template1`): one per node that has
    /// started on PostgreSQL.
    pub fn databases(&self) -> Result<Vec<String>> {
        let rows = self.query(
            "postgres",
            "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY datname",
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|mut r| match r.remove("datname") {
                Some(serde_json::Value::String(name)) => Some(name),
                _ => None,
            })
            .collect())
    }

    /// The port it listens on (on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Its data directory, `<network dir>/postgres/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.inner.dir.join("data")
    }

    /// The directory of the `initdb` and `postgres` it runs (also where
    /// `psql` usually is).
    pub fn bin_dir(&self) -> &Path {
        &self.inner.bin_dir
    }
}

impl Inner {
    /// Fast shutdown (SIGINT): the nodes are gone, nothing is worth
    /// waiting for (SIGTERM, the daemon layer's signal, waits for every
    /// client to leave); then the daemon layer's kill, which also reaps
    /// it. Idempotent.
    fn shutdown(&self) {
        if let Some(pid) = self.process.pid() {
            if self.process.exited().is_none() {
                // SAFETY: a plain syscall on our own child, not yet reaped
                // (`exited` would have reaped it).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
                self.process.wait_exit(Duration::from_secs(10));
            }
        }
        self.process.kill(Duration::from_secs(1));
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The server's command line: its data, port and listen addresses, no
/// unix socket (nothing here uses one, and its default directory is the
/// distribution's), and no `fsync`, as pyln-testing's `-F`.
fn server_args(data: &Path, listener: &Listener) -> Vec<std::ffi::OsString> {
    [
        "-D".to_string(),
        data.display().to_string(),
        "-p".into(),
        listener.port.to_string(),
        "-c".into(),
        format!("listen_addresses={}", listener.binds.join(",")),
        "-c".into(),
        "unix_socket_directories=".into(),
        "-c".into(),
        "fsync=off".into(),
        "-c".into(),
        "synchronous_commit=off".into(),
        "-c".into(),
        "full_page_writes=off".into(),
    ]
    .into_iter()
    .map(Into::into)
    .collect()
}

/// `initdb` of a cluster in `data`, its output in `<dir>/initdb.log`.
fn initdb(bin_dir: &Path, dir: &Path, data: &Path, user: Option<&RunAs>) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let log = dir.join("initdb.log");
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let program = bin_dir.join("initdb");
    let mut cmd = Command::new(&program);
    cmd.arg("-D")
        .arg(data)
        .args([
            &format!("--username={SUPERUSER}"),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            // No fsync of the new cluster: it lives as long as the test.
            "--no-sync",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().context("duplicating a file handle")?)
        .stderr(out);
    if let Some(user) = user {
        cmd.uid(user.uid).gid(user.gid);
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {}", program.display()))?;
    if status.success() {
        return Ok(());
    }
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let hint = match user {
        Some(u) => format!(
            " (it runs as {}, since PostgreSQL refuses root: every directory above {} must let {} through; Conf::tmp_root can move the network)",
            u.name,
            dir.display(),
            u.name
        ),
        None => String::new(),
    };
    Err(Error::msg(format!(
        "{} failed ({status}){hint}:\n{}",
        program.display(),
        output.trim_end()
    )))
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("appending to {}", path.display()))
}
