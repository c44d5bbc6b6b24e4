//! Decides at compile time which integration tests can run here, and
//! writes the `needs_*!` macros accordingly (see `build/skips.rs`).
//!
//! The decision uses `src/probe`, the same code the library runs: where the
//! binaries are, which backend each daemon is asked to use, whether the
//! Docker engine answers and has (or can pull) the images.
//! `ITEST_REQUIRE` (see `src/probe/require.rs`) makes the macros of the
//! backends it names pass-throughs, so a missing part fails their tests
//! instead of skipping them: `1` names the backends the daemons run on,
//! `native,docker` (or `all`) both.

#[allow(dead_code)]
#[path = "src/probe/mod.rs"]
mod probe;
#[path = "build/shim.rs"]
mod shim;
#[path = "build/skips.rs"]
mod skips;

use probe::backend::{
    Backend, Choice, Daemon, BITCOIND_BACKEND_VAR, BITCOIND_DAEMON, LIGHTNINGD_BACKEND_VAR,
    LIGHTNINGD_DAEMON,
};
use probe::images::{BITCOIND_IMAGE_VAR, LIGHTNINGD_IMAGE_VAR};
use probe::lookup::{Tool, BITCOIND, BITCOIN_CLI, LIGHTNINGD};
use probe::postgres::BINDIR_VAR;
use probe::require::{Required, REQUIRE_VAR};
use skips::Skip;

fn main() {
    for var in [
        "PATH",
        REQUIRE_VAR,
        "ITEST_BACKEND",
        BITCOIND_BACKEND_VAR,
        LIGHTNINGD_BACKEND_VAR,
        BITCOIND_IMAGE_VAR,
        LIGHTNINGD_IMAGE_VAR,
        BINDIR_VAR,
        CLN_SCHEMAS_VAR,
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build");
    println!("cargo::rerun-if-changed=src/probe");
    // lightningd's bitcoin-cli stand-in, for machines without bitcoin-cli.
    let shim_built = shim::compile(&shim::BITCOIN_CLI);
    // Its absence only fails the tests that trace a plugin, at run time.
    let _ = shim::compile(&shim::PLUGIN_RELAY);

    let machine = Machine::probe();
    let bitcoind_choice = machine.choose(&BITCOIND_DAEMON);
    let lightningd_choice = machine.choose(&LIGHTNINGD_DAEMON);
    let chosen = [bitcoind_choice.backend, lightningd_choice.backend];
    let required = Required::from_env(&chosen).unwrap_or_else(|e| panic!("itest: {e}"));
    let bitcoind = machine.daemon(&BITCOIND_DAEMON, &bitcoind_choice);
    let lightningd = machine.daemon(&LIGHTNINGD_DAEMON, &lightningd_choice);
    // lightningd's bcli plugin runs bitcoin-cli where lightningd runs; a
    // lightningd image brings its own, and this machine's lightningd gets
    // the stand-in when there is no bitcoin-cli here.
    let bitcoin_cli = match lightningd_choice.backend {
        Backend::Native => machine.binary(BITCOIN_CLI).and_then(|missing| {
            shim_built.as_ref().err().map(|why| {
                format!(
                    "{missing}; and the bitcoin-cli stand-in was not built: {}",
                    why.lines().next().unwrap_or(why)
                )
            })
        }),
        Backend::Docker => None,
    };
    let native = [LIGHTNINGD, BITCOIND, BITCOIN_CLI]
        .into_iter()
        .filter_map(|tool| machine.binary(tool))
        .collect::<Vec<_>>();
    let native = (!native.is_empty()).then(|| {
        format!(
            "needs lightningd, bitcoind and bitcoin-cli on this machine (the docker backend does not apply here): {}",
            native.join("; ")
        )
    });
    let docker = machine.engine().err().or_else(|| {
        machine
            .image(&BITCOIND_DAEMON.image(), BITCOIND_IMAGE_VAR)
            .err()
    });
    let shared_docker = docker
        .clone()
        .or_else(|| probe::engine::check_shared().err());
    let docker_daemons = docker.clone().or_else(|| {
        machine
            .image(&LIGHTNINGD_DAEMON.image(), LIGHTNINGD_IMAGE_VAR)
            .err()
    });
    let uses_docker = chosen.contains(&Backend::Docker);
    let uses_native = chosen.contains(&Backend::Native);
    // A variable naming a binary that is not there is a mistake to fix,
    // not a machine without the daemon: its tests run and fail, saying so.
    let misset = |tool: Tool| {
        std::env::var_os(tool.env).is_some_and(|v| !v.is_empty()) && machine.binary(tool).is_some()
    };
    let lightningd_misset = misset(LIGHTNINGD) || misset(BITCOIN_CLI);
    let bitcoind_misset = misset(BITCOIND);

    let needs_lightningd_missing =
        join([lightningd.clone(), bitcoind.clone(), bitcoin_cli.clone()]);
    let needs_lightningd_required = (required.backend(lightningd_choice.backend)
        && required.backend(bitcoind_choice.backend))
        || lightningd_misset
        || bitcoind_misset;
    // What a PostgreSQL node needs beyond a node: each part is a reason
    // to skip unless `ITEST_REQUIRE` requires it (see `probe/require.rs`).
    let postgres_server = machine.postgres_server();
    let postgres_driver = match lightningd_choice.backend {
        Backend::Native if lightningd.is_none() => machine.postgres_driver(),
        // An image's lightningd is probed when a node starts, and a
        // missing driver fails it with the same words.
        _ => None,
    };
    let postgres = join([
        needs_lightningd_missing
            .clone()
            .filter(|_| !needs_lightningd_required),
        // A variable naming a wrong directory is a mistake to fix, as for
        // the daemons: those tests run and fail, saying so.
        postgres_server.clone().filter(|_| {
            !required.postgres && std::env::var_os(BINDIR_VAR).is_none_or(|v| v.is_empty())
        }),
        postgres_driver
            .clone()
            .filter(|_| !required.postgres_driver),
    ]);

    let mut all = vec![
        Skip {
            name: "needs_postgres",
            doc: "Wraps a test that runs nodes on PostgreSQL ([`DbProvider::Postgres`]):\n\
                  it needs [`needs_lightningd!`]'s daemons, PostgreSQL's server\n\
                  programs on this machine (`initdb`, `postgres`), and a lightningd\n\
                  built with the PostgreSQL driver. `ITEST_REQUIRE=1` requires the\n\
                  server programs, `ITEST_REQUIRE=postgres` the driver too.\n\
                  \n\
                  [`DbProvider::Postgres`]: crate::DbProvider::Postgres",
            missing: postgres.clone(),
            required: false,
            chosen: true,
        },
        Skip {
            name: "needs_lightningd",
            doc: "Wraps a test that needs lightningd and bitcoind (natively or in\n\
                  containers, as the backends say): it is compiled as\n\
                  `#[ignore = \"...\"]`, naming what is missing and how to get it,\n\
                  when either was missing at build time (never when\n\
                  `ITEST_REQUIRE` names their backends). Works with `#[test]`, `#[tokio::test]` and\n\
                  `#[rstest]`.",
            missing: needs_lightningd_missing,
            required: needs_lightningd_required,
            chosen: true,
        },
        Skip {
            name: "needs_cln_schemas",
            doc: "Wraps a test that needs [`needs_lightningd!`]'s daemons and CLN's JSON\n\
                  schemas of the lightningd under test: `ITEST_CLN_SCHEMAS`, a CLN\n\
                  source tree or its `doc/schemas`, set at build time. `ITEST_REQUIRE`\n\
                  does not make up for a missing tree (no package ships one).",
            missing: join([
                lightningd.clone(),
                bitcoind.clone(),
                bitcoin_cli.clone(),
                cln_schemas(),
            ]),
            required: cln_schemas().is_none()
                && ((required.backend(lightningd_choice.backend)
                    && required.backend(bitcoind_choice.backend))
                    || lightningd_misset
                    || bitcoind_misset),
            chosen: false,
        },
        Skip {
            name: "needs_bitcoind",
            doc: "Wraps a test that needs only bitcoind (see [`needs_lightningd!`]).",
            missing: bitcoind.clone(),
            required: required.backend(bitcoind_choice.backend) || bitcoind_misset,
            chosen: true,
        },
        Skip {
            name: "needs_docker",
            doc: "Wraps a test that needs a Docker engine with the bitcoind image\n\
                  (`ITEST_BITCOIND_IMAGE`, local or pullable), whatever the backends:\n\
                  ignored with the reason (engine address tried, image, how to fix\n\
                  it) when either was missing at build time.",
            missing: docker.clone(),
            required: required.docker,
            chosen: uses_docker,
        },
        Skip {
            name: "needs_shared_docker",
            doc: "Wraps a test of containers that share this machine's network and\n\
                  paths (`DockerMode::Host`): it needs [`needs_docker!`]'s engine and\n\
                  image, and an engine on this Linux machine (a unix socket, neither\n\
                  Docker Desktop nor rootless).",
            missing: shared_docker,
            required: required.docker,
            chosen: uses_docker,
        },
        Skip {
            name: "needs_docker_daemons",
            doc: "Wraps a test that runs bitcoind and lightningd in containers whatever\n\
                  the backends: it needs the Docker engine and both images\n\
                  (`ITEST_BITCOIND_IMAGE`, `ITEST_LIGHTNINGD_IMAGE`, local or pullable).",
            missing: docker_daemons,
            required: required.docker,
            chosen: uses_docker,
        },
        Skip {
            name: "needs_native_daemons",
            doc: "Wraps a test that runs lightningd, bitcoind and bitcoin-cli on this\n\
                  machine whatever the backend (e.g. one driving\n\
                  `scripts/start_ln.sh`): ignored when any of them is missing here,\n\
                  even if the docker backend would give a\n\
                  [`Network`](crate::Network) its daemons.",
            missing: native,
            required: required.native || lightningd_misset || bitcoind_misset,
            chosen: uses_native,
        },
    ];
    // One warning line, and only about what the chosen backends need: a
    // native run is not told about Docker at every build (its ignored
    // tests still name it).
    let mut warnings: Vec<String> = [&bitcoind_choice, &lightningd_choice]
        .into_iter()
        .filter_map(|c| c.automatic.clone())
        .collect();
    let ignored: Vec<&str> = all
        .iter()
        .filter(|s| s.chosen && !s.required && s.missing.is_some())
        .map(|s| s.name)
        .collect();
    if !ignored.is_empty() {
        let mut reasons: Vec<String> = Vec::new();
        let daemons = [&lightningd, &bitcoind, &bitcoin_cli];
        let engine = if uses_docker { &docker } else { &None };
        let postgres_parts = if postgres.is_some() {
            [&postgres_server, &postgres_driver]
        } else {
            [&None, &None]
        };
        for reason in daemons
            .into_iter()
            .chain([engine])
            .chain(postgres_parts)
            .flatten()
        {
            if !reasons.contains(reason) {
                reasons.push(reason.clone());
            }
        }
        // `1` does not require the driver (see `probe/require.rs`).
        let driver = postgres_driver.as_ref().filter(|r| reasons.contains(r));
        let require = match driver {
            Some(_) if reasons.len() == 1 => "ITEST_REQUIRE=postgres makes them fail instead",
            Some(_) => {
                "ITEST_REQUIRE=1 makes them fail instead; ITEST_REQUIRE=postgres for the driver"
            }
            None => "ITEST_REQUIRE=1 makes them fail instead",
        };
        warnings.push(format!(
            "{}! tests are compiled as ignored: {} ({require})",
            ignored.join("!, "),
            reasons.join("; ")
        ));
    }
    for tool in [LIGHTNINGD, BITCOIND, BITCOIN_CLI]
        .into_iter()
        .filter(|t| misset(*t))
    {
        warnings.push(format!(
            "{}: the tests that need it will run and fail (unset {} to skip them instead)",
            tool.missing_message(std::env::var_os(tool.env).as_ref()),
            tool.env
        ));
    }
    for warning in warnings {
        println!("cargo::warning=itest: {warning}");
    }
    for skip in &mut all {
        if skip.required {
            skip.missing = None;
        }
    }
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    skips::write(&out.join("skips.rs"), &all);
}

/// Makes cargo re-run this script when what decides the engine address
/// changes (see `src/probe/engine_host.rs`): its variables, the properties
/// file, and the directories of the sockets looked for (a socket appearing
/// or vanishing changes its directory's mtime). A properties file created
/// later is not noticed (cargo cannot watch a missing file without
/// re-running every build): `touch itest/build.rs` then.
fn watch_engine_address() {
    use probe::engine_host::{candidate_sockets, properties_path, ThisMachine, VARS};
    for var in VARS {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if let Some(file) = properties_path(&ThisMachine).filter(|f| f.is_file()) {
        println!("cargo::rerun-if-changed={}", file.display());
    }
    let mut sockets = candidate_sockets(&ThisMachine);
    if let Ok(located) = probe::engine::located() {
        if let Some(socket) = located.host.strip_prefix("unix://") {
            sockets.push(socket.into());
        }
    }
    for socket in sockets {
        if let Some(dir) = socket.parent().filter(|d| d.is_dir()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
}

/// Where CLN's JSON schemas are, for the tests that check replies.
const CLN_SCHEMAS_VAR: &str = "ITEST_CLN_SCHEMAS";

/// `None` if `ITEST_CLN_SCHEMAS` names CLN's schemas (a tree with
/// `doc/schemas`, or that directory), else why not.
fn cln_schemas() -> Option<String> {
    let Some(given) = std::env::var_os(CLN_SCHEMAS_VAR).filter(|v| !v.is_empty()) else {
        return Some(format!(
            "needs CLN's JSON schemas: set {CLN_SCHEMAS_VAR} to the CLN source tree of the \
             lightningd under test (or its doc/schemas)"
        ));
    };
    let given = std::path::PathBuf::from(given);
    let dir = [given.join("doc").join("schemas"), given.clone()]
        .into_iter()
        .find(|d| d.is_dir());
    match dir {
        Some(dir) => {
            println!("cargo::rerun-if-changed={}", dir.display());
            None
        }
        None => Some(format!(
            "{CLN_SCHEMAS_VAR}={} is neither a CLN source tree nor its doc/schemas",
            given.display()
        )),
    }
}

/// The reasons of everything missing, in one line; `None` if nothing is.
fn join(reasons: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    let reasons: Vec<String> = reasons.into_iter().flatten().collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// What this machine has, probed once per build.
struct Machine {
    path: Option<std::ffi::OsString>,
    engine: std::cell::OnceCell<Result<(), String>>,
}

impl Machine {
    fn probe() -> Self {
        let path = std::env::var_os("PATH");
        // A binary installed into (or removed from) a PATH directory changes
        // that directory's mtime, which makes cargo re-run this script.
        for dir in probe::lookup::path_dirs(path.clone()) {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
        Self {
            path,
            engine: Default::default(),
        }
    }

    /// `None` if `tool` is found here, else why not.
    fn binary(&self, tool: Tool) -> Option<String> {
        println!("cargo::rerun-if-env-changed={}", tool.env);
        match tool.find(std::env::var_os(tool.env), self.path.clone()) {
            Ok(found) => {
                println!("cargo::rerun-if-changed={}", found.display());
                None
            }
            Err(missing) => Some(missing),
        }
    }

    /// `None` if PostgreSQL's server programs are here, else why not.
    fn postgres_server(&self) -> Option<String> {
        // Debian's package installs them here, off PATH.
        for dir in ["/usr/lib/postgresql", "/usr"] {
            if std::path::Path::new(dir).is_dir() {
                println!("cargo::rerun-if-changed={dir}");
            }
        }
        probe::postgres::find_bin_dir(std::env::var_os(BINDIR_VAR), BINDIR_VAR, self.path.clone())
            .err()
    }

    /// `None` if the lightningd here has the PostgreSQL driver (or cannot
    /// be asked: its tests then fail at run time, saying why), else why
    /// not.
    fn postgres_driver(&self) -> Option<String> {
        let program = LIGHTNINGD.resolve(std::env::var_os(LIGHTNINGD.env), self.path.clone())?;
        match probe::postgres::native_driver(&program, std::time::Duration::from_secs(30)) {
            Ok(true) | Err(_) => None,
            Ok(false) => Some(probe::postgres::no_driver_message(
                &program.display().to_string(),
            )),
        }
    }

    /// Whether the engine answers (asked once).
    fn engine(&self) -> Result<(), String> {
        self.engine
            .get_or_init(|| {
                watch_engine_address();
                // An image built or removed rewrites the engine's image list
                // (where this process can see it).
                for store in ["/var/lib/docker/image/overlay2/repositories.json"] {
                    if std::path::Path::new(store).is_file() {
                        println!("cargo::rerun-if-changed={store}");
                    }
                }
                probe::engine::check()
            })
            .clone()
    }

    /// `Ok` if `image` is local or pullable through the engine.
    fn image(&self, image: &str, var: &str) -> Result<(), String> {
        self.engine()?;
        probe::engine::image_available(&probe::engine::docker_host()?, image, var)
    }

    /// The backend `daemon` runs on (see `probe::backend::Daemon::choose`);
    /// a misspelt variable stops the build.
    fn choose(&self, daemon: &Daemon) -> Choice {
        daemon
            .choose(|image| self.image(image, daemon.image_var))
            .unwrap_or_else(|e| panic!("itest: {e}"))
    }

    /// `None` if `daemon` can run on the backend of `choice`: its binary
    /// here, or the engine with its image; else why not.
    fn daemon(&self, daemon: &Daemon, choice: &Choice) -> Option<String> {
        match choice.backend {
            Backend::Native => choice.missing.clone().or_else(|| self.binary(daemon.tool)),
            Backend::Docker => self
                .image(&daemon.image(), daemon.image_var)
                .err()
                .map(|why| format!("{} in a container: {why}", daemon.tool.name)),
        }
    }
}
