//! The one seam between the harness and where a daemon runs.
//!
//! Every daemon of a network gets one [`Placement`], made by the network's
//! [`Sites`]. Everything whose answer depends on the backend is answered
//! here, and nowhere else:
//! - which program runs ([`Placement::program`]): a binary found on this
//!   machine, or a name on an image's PATH;
//! - how it is launched ([`Placement::launch`]);
//! - which `bitcoin-cli` a lightningd placed there runs
//!   ([`Placement::bitcoin_cli`]);
//! - which address and port it binds for a service, and where the test, a
//!   daemon of this machine or one in a container reaches it
//!   ([`Placement::listener`], [`Placement::reach`], [`Placement::side`]);
//! - whether it writes its log to a file or to stdout
//!   ([`Placement::logs_to_stdout`]);
//! - how the program is run to read its `--version` or `--help`
//!   ([`Placement::capture`], with the one cache of such output).
//!
//! Paths are the same for every daemon wherever it runs (a container sees
//! this machine's paths bind-mounted, or gets copies at the same paths), so
//! a path in an argument or an error message means the same everywhere.
//! What a running daemon can read is its own question
//! ([`Daemon::provide`]).
//!
//! Above this module, `BitcoinD`, `Node` and `Network` read the same for
//! every backend.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::conf::{Conf, NodeConf};
use crate::daemon::boundary::{Daemon, DaemonSpec, Launcher, Side};
use crate::daemon::docker::{self, DockerLauncher, ImageRef, Isolation, Share};
use crate::daemon::native::guard::OrphanGuard;
use crate::daemon::native::NativeLauncher;
use crate::ports::{self, PortLease};
use crate::probe::backend::{Backend, DockerMode};
use crate::probe::engine;
use crate::probe::images::{BITCOIND_IMAGE_VAR, LIGHTNINGD_IMAGE_VAR};
use crate::probe::lookup::{Tool, BITCOIN_CLI};

/// How long reading a program's `--version` or `--help` may take (a first
/// container start from an image included).
const CAPTURE_LIMIT: Duration = Duration::from_secs(60);

/// A TCP service a daemon offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// bitcoind's JSON-RPC.
    BitcoindRpc,
    /// lightningd's peer port.
    Peer,
    /// lightningd's cln-grpc port.
    Grpc,
    /// The PostgreSQL server of PostgreSQL nodes (always on this machine).
    Postgres,
}

impl Service {
    /// The port in a container of its own network namespace, where it is
    /// free for sure.
    fn container_port(self) -> u16 {
        match self {
            Self::BitcoindRpc => 18443,
            Self::Peer => 9735,
            Self::Grpc => 9736,
            Self::Postgres => 5432,
        }
    }
}

/// Where a daemon listens for one [`Service`]: what its options say.
#[derive(Debug)]
pub(crate) struct Listener {
    /// Addresses to bind (`-rpcbind=`, `--addr=`).
    pub binds: Vec<String>,
    /// Clients to accept, as bitcoind's `-rpcallowip=` says them.
    pub allow: Vec<String>,
    /// The port, as the daemon binds it.
    pub port: u16,
    /// Keeps other harness processes off the port, where it is this
    /// machine's.
    _lease: Option<PortLease>,
}

/// Where the daemons of one network run: the backends and docker mode of
/// its [`Conf`], and what its isolated containers share on the engine.
#[derive(Debug)]
pub(crate) struct Sites {
    /// The network's share of the engine, when any daemon runs in an
    /// isolated container.
    isolation: Option<Arc<Isolation>>,
    /// The docker mode the configuration comes to on this engine, when a
    /// daemon runs in a container.
    mode: Option<DockerMode>,
    /// How native daemons are kept from outliving the test process.
    orphan_guard: OrphanGuard,
}

impl Sites {
    /// Decides the docker mode (when a daemon runs in a container) and,
    /// for the isolated mode, creates the network's container network,
    /// labelled for the network in `root`.
    pub fn new(conf: &Conf, root: &Path) -> Result<Self> {
        let docker = conf.bitcoind_backend == Backend::Docker
            || (conf.lightningd_backend == Backend::Docker && !conf.nodes.is_empty());
        if !docker {
            return Ok(Self {
                isolation: None,
                mode: None,
                orphan_guard: conf.orphan_guard,
            });
        }
        let mode = docker::resolve_mode(conf.docker_mode)?;
        let isolation = match mode {
            DockerMode::Isolated => Some(Arc::new(Isolation::create(root)?)),
            _ => None,
        };
        Ok(Self {
            isolation,
            mode: Some(mode),
            orphan_guard: conf.orphan_guard,
        })
    }

    /// Where the daemons of `conf` would run, to read their programs
    /// (`--version`, `--help`) without a network: no container network is
    /// created.
    pub fn for_inspection(conf: &Conf) -> Self {
        Self {
            isolation: None,
            mode: None,
            orphan_guard: conf.orphan_guard,
        }
    }

    /// The docker mode the network's containers run in (`Host` or
    /// `Isolated`); `None` when no daemon runs in a container.
    pub fn docker_mode(&self) -> Option<DockerMode> {
        self.mode
    }

    /// Where bitcoind of the network in `root` runs.
    pub fn bitcoind(&self, conf: &Conf, root: &Path) -> Result<Placement> {
        self.place(
            conf.bitcoind_backend,
            &conf.bitcoind_image,
            || container_mounts(conf, root, None),
            root,
        )
    }

    /// A daemon the network runs on this machine whatever the backends
    /// (the PostgreSQL server of PostgreSQL nodes), reached by isolated
    /// containers the way they reach a node's bitcoind proxy.
    pub fn this_machine(&self) -> Placement {
        Placement {
            kind: Kind::Native(self.orphan_guard),
            isolation: self.isolation.clone(),
        }
    }

    /// Where `node` of the network in `root` runs. A sharing container's
    /// mounts are fixed when it starts: each node's sees the common mounts
    /// plus its own startup plugins' directories.
    pub fn lightningd(&self, conf: &Conf, node: &NodeConf, root: &Path) -> Result<Placement> {
        self.place(
            conf.lightningd_backend,
            &conf.lightningd_image,
            || container_mounts(conf, root, Some(node)),
            root,
        )
    }

    fn place(
        &self,
        backend: Backend,
        image: &str,
        mounts: impl FnOnce() -> Vec<PathBuf>,
        root: &Path,
    ) -> Result<Placement> {
        let kind = match backend {
            Backend::Native => Kind::Native(self.orphan_guard),
            Backend::Docker => {
                let image: ImageRef = image.parse()?;
                let share = match &self.isolation {
                    Some(net) => Share::Isolated(net.clone()),
                    None => Share::Host(mounts()),
                };
                Kind::Docker(Arc::new(DockerLauncher::new(image, share, root)))
            }
        };
        Ok(Placement {
            kind,
            isolation: self.isolation.clone(),
        })
    }
}

/// Where one daemon runs; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    kind: Kind,
    /// The network's share of the engine, if it has isolated containers:
    /// how they reach a daemon placed here when it is on this machine.
    isolation: Option<Arc<Isolation>>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A process of this machine, guarded against outliving the test
    /// process this way.
    Native(OrphanGuard),
    /// A container from an image.
    Docker(Arc<DockerLauncher>),
}

impl Placement {
    /// Before a network places any daemon in a container: fails at once,
    /// with the one-line reason a skipped test would show, when no engine
    /// answers or an image is neither local nor pullable, and removes
    /// containers (networks, volumes) that killed test processes left
    /// behind.
    pub fn prepare(conf: &Conf) -> Result<()> {
        let images = [
            (
                conf.bitcoind_backend,
                &conf.bitcoind_image,
                BITCOIND_IMAGE_VAR,
            ),
            (
                conf.lightningd_backend,
                &conf.lightningd_image,
                LIGHTNINGD_IMAGE_VAR,
            ),
        ];
        let mut checked_engine = false;
        // A network without nodes needs no lightningd image.
        let needed = images.iter().enumerate().filter(|(i, (backend, _, _))| {
            *backend == Backend::Docker && (*i == 0 || !conf.nodes.is_empty())
        });
        for (_, (_, image, var)) in needed {
            if !checked_engine {
                engine::check().map_err(anyhow::Error::msg)?;
                checked_engine = true;
            }
            let host = engine::docker_host().map_err(anyhow::Error::msg)?;
            engine::image_available(&host, image, var).map_err(anyhow::Error::msg)?;
        }
        if checked_engine {
            if let Err(e) = docker::reap_orphans() {
                eprintln!("itest: could not remove containers of dead test processes: {e:#}");
            }
        }
        Ok(())
    }

    /// On this machine, whatever the configuration (e.g. to read a
    /// lightningd's `--help` without a network).
    pub fn native() -> Self {
        Self {
            kind: Kind::Native(OrphanGuard::platform_default()),
            isolation: None,
        }
    }

    /// The program to run for `tool`. Natively: `node_override`, else
    /// `configured`, else `PATH` (a missing one fails with what to do). In
    /// a container: the tool's name, looked up on the image's PATH;
    /// `configured` (a default from the environment) does not apply there,
    /// but an explicit `node_override` naming a binary of this machine is
    /// refused rather than silently ignored.
    pub fn program(
        &self,
        tool: Tool,
        configured: Option<&Path>,
        node_override: Option<&Path>,
    ) -> Result<PathBuf> {
        match &self.kind {
            Kind::Native(_) => resolve(tool, node_override.or(configured)),
            Kind::Docker(launcher) => match node_override {
                Some(path) => bail!(
                    "{} ({}) names a binary on this machine, but {} runs in containers from {}",
                    tool.name,
                    path.display(),
                    tool.name,
                    launcher.image()
                ),
                None => Ok(PathBuf::from(tool.name)),
            },
        }
    }

    /// The bitcoin-cli that a lightningd placed here runs (its bcli plugin
    /// calls it for every bitcoind request): a lightningd image has its
    /// own. Natively: [`Conf::bitcoin_cli`], else the one on `PATH`, else
    /// the stand-in build.rs compiled (`crate::bitcoin_cli_shim`), which
    /// talks to bitcoind's RPC port itself, so lightningd built here runs
    /// against a bitcoind in a container with no Bitcoin install here.
    pub fn bitcoin_cli(&self, conf: &Conf) -> Result<PathBuf> {
        match &self.kind {
            Kind::Docker(_) => Ok(PathBuf::from(BITCOIN_CLI.name)),
            Kind::Native(_) => {
                native_bitcoin_cli(conf.bitcoin_cli.as_deref(), std::env::var_os("PATH"))
            }
        }
    }

    /// Starts the daemon described by `spec` here.
    pub fn launch(&self, spec: &DaemonSpec) -> Result<Box<dyn Daemon>> {
        match &self.kind {
            Kind::Native(guard) => NativeLauncher { guard: *guard }.launch(spec),
            Kind::Docker(launcher) => launcher.launch(spec),
        }
    }

    /// Whether daemons placed here are processes of this machine, started
    /// by the test process (not containers).
    pub fn is_native(&self) -> bool {
        matches!(self.kind, Kind::Native(_))
    }

    /// Where a daemon placed here is, for those it connects to.
    pub fn side(&self) -> Side {
        match &self.kind {
            Kind::Docker(launcher) if matches!(launcher.share(), Share::Isolated(_)) => {
                Side::ContainerNetwork
            }
            _ => Side::ThisMachine,
        }
    }

    /// Whether a daemon placed here writes its log to stdout (which the
    /// harness copies to its usual log file) instead of to that file: in a
    /// container that shares no paths with this machine.
    pub fn logs_to_stdout(&self) -> bool {
        self.side() == Side::ContainerNetwork
    }

    /// Where a daemon placed here listens for `service`, whose clients
    /// connect from `clients`. On this machine (or sharing its network): a
    /// loopback port reserved for the network's life, plus the address by
    /// which containers reach this machine when the clients are in
    /// isolated containers. In an isolated container: the service's fixed
    /// port on every address (it is published for this machine).
    pub fn listener(&self, service: Service, clients: Side) -> Result<Listener> {
        if self.side() == Side::ContainerNetwork {
            return Ok(Listener {
                binds: vec!["0.0.0.0".into()],
                allow: vec!["0.0.0.0/0".into()],
                port: service.container_port(),
                _lease: None,
            });
        }
        let lease = ports::reserve()?;
        let mut binds = vec!["127.0.0.1".to_string()];
        let mut allow = vec!["127.0.0.1".to_string()];
        if clients == Side::ContainerNetwork {
            let net = self.isolation.as_ref().ok_or_else(|| {
                anyhow!("clients in containers, but the network has no container network")
            })?;
            let way = net.way_back()?;
            binds.push(way.bind.to_string());
            // They arrive from the container network, or translated to the
            // engine's host address: the bind address limits who can.
            allow.push("0.0.0.0/0".into());
        }
        Ok(Listener {
            binds,
            allow,
            port: lease.port(),
            _lease: Some(lease),
        })
    }

    /// Where a server of the test process (a node's bitcoind proxy) listens
    /// so that a daemon placed here reaches it, and the host that daemon
    /// connects to: loopback natively and for a container on this
    /// machine's network; for an isolated container, the way back from
    /// its container network to this machine.
    pub fn test_process_endpoint(&self) -> Result<(IpAddr, String)> {
        if self.side() == Side::ContainerNetwork {
            let net = self.isolation.as_ref().ok_or_else(|| {
                anyhow!(
                    "a daemon in an isolated container, but the network has no container network"
                )
            })?;
            let way = net.way_back()?;
            return Ok((way.bind, way.host));
        }
        Ok((IpAddr::V4(Ipv4Addr::LOCALHOST), "127.0.0.1".into()))
    }

    /// Where a client on `from` reaches `daemon` (placed here), listening
    /// on `port` as it binds it, as `(host, port)`.
    pub fn reach(&self, daemon: &dyn Daemon, port: u16, from: Side) -> Result<(String, u16)> {
        if let Some(address) = daemon.address(port, from) {
            return Ok(address);
        }
        match (&self.isolation, from) {
            (Some(net), Side::ContainerNetwork) => Ok((net.way_back()?.host, port)),
            _ => bail!("{daemon:?} has no address for port {port} from {from:?}"),
        }
    }

    /// What `program args` prints (stdout, then stderr) when run here, for
    /// `--version` and `--help`. Cached for the life of the process: the
    /// same binary or image always prints the same.
    pub fn capture(&self, program: &Path, args: &[&str]) -> Result<String> {
        type Key = (String, PathBuf, Vec<String>);
        static CACHE: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
        let key: Key = (
            self.to_string(),
            program.to_path_buf(),
            args.iter().map(|a| a.to_string()).collect(),
        );
        let cache = CACHE.get_or_init(Default::default);
        if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(hit.clone());
        }
        let text = match &self.kind {
            Kind::Native(_) => run_capture(program, args)?,
            Kind::Docker(launcher) => docker::output(
                launcher.image(),
                &program.display().to_string(),
                args,
                CAPTURE_LIMIT,
            )?,
        };
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, text.clone());
        Ok(text)
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Native(_) => f.write_str("this machine"),
            Kind::Docker(launcher) => write!(f, "containers from {}", launcher.image()),
        }
    }
}

/// The bitcoin-cli of this machine for lightningd: `configured` (which
/// must exist), else the stand-in, else the one on `path_var`.
///
/// The stand-in comes first because bcli runs one bitcoin-cli process
/// per chain query (two per block): it starts in about half the time of
/// Bitcoin Core's (measured with `perf stat`: 3.2 ms against 6.8 ms of CPU
/// per call), which took a 100-block catch-up of two nodes from 3.7-5.3 s
/// to 2.9-3.8 s. lightningd sees the same answers either way (the
/// stand-in's tests compare the two); `BITCOIN_CLI=bitcoin-cli` or
/// `Conf::bitcoin_cli` gives lightningd the real one.
fn native_bitcoin_cli(configured: Option<&Path>, path_var: Option<OsString>) -> Result<PathBuf> {
    if configured.is_some() {
        return resolve_in(BITCOIN_CLI, configured, path_var);
    }
    match crate::bitcoin_cli_shim::bitcoin_cli_shim() {
        Ok(shim) => Ok(shim),
        Err(why) => resolve_in(BITCOIN_CLI, None, path_var)
            .map_err(|missing| anyhow!("{missing:#}; and {why:#}")),
    }
}

/// Resolves `tool` from a configured value (a path, or a bare name looked
/// up on `PATH`), else from `PATH`; fails with the "not found: ..." message
/// that also serves as the `#[ignore]` reason.
fn resolve(tool: Tool, configured: Option<&Path>) -> Result<PathBuf> {
    resolve_in(tool, configured, std::env::var_os("PATH"))
}

/// [`resolve`] with `path_var` as `PATH`.
fn resolve_in(
    tool: Tool,
    configured: Option<&Path>,
    path_var: Option<OsString>,
) -> Result<PathBuf> {
    let configured = configured.map(|p| p.as_os_str().to_os_string());
    match tool.resolve(configured.clone(), path_var) {
        Some(path) => Ok(path),
        None => match configured {
            Some(value) => bail!(
                "{} {:?} is not an executable file (configured: Conf::{} or NodeConf's, whose default is {})",
                tool.name,
                value,
                tool.name.replace('-', "_"),
                tool.env
            ),
            None => bail!("{}", tool.missing_message(None)),
        },
    }
}

/// `program args` on this machine: stdout then stderr. Some releases exit
/// non-zero after `--help`; the text is what matters, so only no output at
/// all is an error.
fn run_capture(program: &Path, args: &[&str]) -> Result<String> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running `{shown}`"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    if text.trim().is_empty() {
        bail!("`{shown}` printed nothing ({})", out.status);
    }
    Ok(text)
}

/// What a sharing container sees: [`Conf::container_mounts`], the temp
/// root holding the network in `root`, and for a node libfaketime and the
/// directories of its startup plugins.
fn container_mounts(conf: &Conf, root: &Path, node: Option<&NodeConf>) -> Vec<PathBuf> {
    let mut mounts = conf.container_mounts.clone();
    mounts.push(conf.tmp_root.clone().unwrap_or_else(std::env::temp_dir));
    mounts.push(root.to_path_buf());
    if let Some(node) = node {
        mounts.extend(conf.libfaketime.clone());
        mounts.extend(
            node.plugins()
                .filter_map(|p| p.path.parent().map(Path::to_path_buf)),
        );
    }
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::lookup::LIGHTNINGD;

    fn in_container(image: &str) -> Placement {
        let launcher = DockerLauncher::new(
            image.parse().unwrap(),
            Share::Host(Vec::new()),
            Path::new("/tmp"),
        );
        Placement {
            kind: Kind::Docker(Arc::new(launcher)),
            isolation: None,
        }
    }

    #[test]
    fn a_configured_path_that_is_not_executable_is_named() {
        let err = Placement::native()
            .program(LIGHTNINGD, Some(Path::new("/no/such/lightningd")), None)
            .unwrap_err();
        assert!(err.to_string().contains("/no/such/lightningd"), "{err}");
    }

    #[test]
    fn a_container_refuses_a_binary_of_this_machine_and_ignores_defaults() {
        let placement = in_container("img:tag");
        let err = placement
            .program(LIGHTNINGD, None, Some(Path::new("/opt/cln/bin/lightningd")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/opt/cln/bin/lightningd") && err.contains("img:tag"),
            "{err}"
        );
        let default = Path::new("/usr/local/bin/lightningd");
        assert_eq!(
            placement.program(LIGHTNINGD, Some(default), None).unwrap(),
            PathBuf::from("lightningd")
        );
    }

    #[test]
    fn a_sharing_container_and_this_machine_listen_on_reserved_loopback_ports() {
        for placement in [Placement::native(), in_container("img:tag")] {
            assert_eq!(placement.side(), Side::ThisMachine);
            assert!(!placement.logs_to_stdout());
            let a = placement
                .listener(Service::Peer, Side::ThisMachine)
                .unwrap();
            let b = placement
                .listener(Service::Peer, Side::ThisMachine)
                .unwrap();
            assert_eq!(a.binds, ["127.0.0.1"]);
            assert_ne!(a.port, b.port, "reserved ports are distinct");
            // Clients in containers need a container network to come from.
            assert!(placement
                .listener(Service::BitcoindRpc, Side::ContainerNetwork)
                .is_err());
        }
    }

    #[test]
    fn a_native_lightningd_gets_the_stand_in_unless_a_bitcoin_cli_is_configured() {
        let empty = tempfile::tempdir().unwrap();
        let path = Some(OsString::from(empty.path()));
        let shim = crate::bitcoin_cli_shim::bitcoin_cli_shim().unwrap();
        assert_eq!(native_bitcoin_cli(None, path.clone()).unwrap(), shim);
        // Also with one on PATH; a configured one wins, and must exist.
        let real = empty.path().join("bitcoin-cli");
        std::fs::write(&real, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(native_bitcoin_cli(None, path.clone()).unwrap(), shim);
        assert_eq!(
            native_bitcoin_cli(Some(Path::new("bitcoin-cli")), path.clone()).unwrap(),
            real
        );
        let err = native_bitcoin_cli(Some(Path::new("/no/bitcoin-cli")), path).unwrap_err();
        assert!(err.to_string().contains("/no/bitcoin-cli"), "{err}");
        // A container's lightningd runs its image's.
        let conf = Conf::default();
        assert_eq!(
            in_container("img:tag").bitcoin_cli(&conf).unwrap(),
            PathBuf::from("bitcoin-cli")
        );
    }

    #[test]
    fn capture_runs_once_per_program_and_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let script = dir.path().join("prog");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho run >> {}\necho \"$@\"\n", count.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let native = Placement::native();
        assert_eq!(
            native.capture(&script, &["--version"]).unwrap(),
            "--version\n"
        );
        assert_eq!(
            native.capture(&script, &["--version"]).unwrap(),
            "--version\n"
        );
        assert_eq!(native.capture(&script, &["--help"]).unwrap(), "--help\n");
        let runs = std::fs::read_to_string(&count).unwrap();
        assert_eq!(runs.lines().count(), 2, "{runs}");
    }
}
