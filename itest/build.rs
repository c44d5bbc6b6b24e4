//! Decides at compile time which integration tests can run here, and
//! writes the `needs_*!` macros accordingly (see `build/skips.rs`).
//!
//! The decision uses `src/probe`, the same code the library runs: where the
//! binaries are, which backend each daemon is asked to use, whether the
//! Docker engine answers and has (or can pull) the images.
//! `ITEST_REQUIRE=1` makes every macro a pass-through, so a missing part
//! fails its tests instead of skipping them.

#[allow(dead_code)]
#[path = "src/probe/mod.rs"]
mod probe;
#[path = "build/shim.rs"]
mod shim;
#[path = "build/skips.rs"]
mod skips;

use probe::backend::{Backend, BITCOIND_BACKEND_VAR, LIGHTNINGD_BACKEND_VAR};
use probe::images::{
    BITCOIND_IMAGE_VAR, DEFAULT_BITCOIND_IMAGE, DEFAULT_LIGHTNINGD_IMAGE, LIGHTNINGD_IMAGE_VAR,
};
use probe::lookup::{Tool, BITCOIND, BITCOIN_CLI, LIGHTNINGD};
use skips::Skip;

fn main() {
    for var in [
        "PATH",
        "ITEST_REQUIRE",
        "ITEST_BACKEND",
        BITCOIND_BACKEND_VAR,
        LIGHTNINGD_BACKEND_VAR,
        BITCOIND_IMAGE_VAR,
        LIGHTNINGD_IMAGE_VAR,
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build");
    println!("cargo::rerun-if-changed=src/probe");
    // lightningd's bitcoin-cli stand-in, for machines without bitcoin-cli.
    let shim_built = shim::compile();

    let require = std::env::var("ITEST_REQUIRE").is_ok_and(|v| v == "1");
    let machine = Machine::probe();
    let bitcoind = machine.daemon(
        BITCOIND_BACKEND_VAR,
        BITCOIND,
        BITCOIND_IMAGE_VAR,
        DEFAULT_BITCOIND_IMAGE,
    );
    let lightningd = machine.daemon(
        LIGHTNINGD_BACKEND_VAR,
        LIGHTNINGD,
        LIGHTNINGD_IMAGE_VAR,
        DEFAULT_LIGHTNINGD_IMAGE,
    );
    // lightningd's bcli plugin runs bitcoin-cli where lightningd runs; a
    // lightningd image brings its own, and this machine's lightningd gets
    // the stand-in when there is no bitcoin-cli here.
    let bitcoin_cli = match backend(LIGHTNINGD_BACKEND_VAR) {
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
        let image = probe::images::from_env(BITCOIND_IMAGE_VAR, DEFAULT_BITCOIND_IMAGE);
        machine.image(&image, BITCOIND_IMAGE_VAR).err()
    });
    let shared_docker = docker
        .clone()
        .or_else(|| probe::engine::check_shared().err());
    let docker_daemons = docker.clone().or_else(|| {
        let image = probe::images::from_env(LIGHTNINGD_IMAGE_VAR, DEFAULT_LIGHTNINGD_IMAGE);
        machine.image(&image, LIGHTNINGD_IMAGE_VAR).err()
    });

    let mut all = vec![
        Skip {
            name: "needs_lightningd",
            doc: "Wraps a test that needs lightningd and bitcoind (natively or in\n\
                  containers, as the backends say): it is compiled as\n\
                  `#[ignore = \"...\"]`, naming what is missing and how to get it,\n\
                  when either was missing at build time (never under\n\
                  `ITEST_REQUIRE=1`). Works with `#[test]`, `#[tokio::test]` and\n\
                  `#[rstest]`.",
            missing: join([lightningd, bitcoind.clone(), bitcoin_cli]),
        },
        Skip {
            name: "needs_bitcoind",
            doc: "Wraps a test that needs only bitcoind (see [`needs_lightningd!`]).",
            missing: bitcoind,
        },
        Skip {
            name: "needs_docker",
            doc: "Wraps a test that needs a Docker engine with the bitcoind image\n\
                  (`ITEST_BITCOIND_IMAGE`, local or pullable), whatever the backends:\n\
                  ignored with the reason (engine address tried, image, how to fix\n\
                  it) when either was missing at build time.",
            missing: docker,
        },
        Skip {
            name: "needs_shared_docker",
            doc: "Wraps a test of containers that share this machine's network and\n\
                  paths (`DockerMode::Host`): it needs [`needs_docker!`]'s engine and\n\
                  image, and an engine on this Linux machine (a unix socket, neither\n\
                  Docker Desktop nor rootless).",
            missing: shared_docker,
        },
        Skip {
            name: "needs_docker_daemons",
            doc: "Wraps a test that runs bitcoind and lightningd in containers whatever\n\
                  the backends: it needs the Docker engine and both images\n\
                  (`ITEST_BITCOIND_IMAGE`, `ITEST_LIGHTNINGD_IMAGE`, local or pullable).",
            missing: docker_daemons,
        },
        Skip {
            name: "needs_native_daemons",
            doc: "Wraps a test that runs lightningd, bitcoind and bitcoin-cli on this\n\
                  machine whatever the backend (e.g. one driving\n\
                  `scripts/start_ln.sh`): ignored when any of them is missing here,\n\
                  even if the docker backend would give a\n\
                  [`Network`](crate::Network) its daemons.",
            missing: native,
        },
    ];
    for skip in &mut all {
        if let Some(reason) = &skip.missing {
            if require {
                skip.missing = None;
            } else {
                println!(
                    "cargo::warning=itest: {}! tests are compiled as ignored: {reason} (set ITEST_REQUIRE=1 to make them fail instead)",
                    skip.name
                );
            }
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

/// The backend the environment asks for; a misspelt value stops the build.
fn backend(var: &str) -> Backend {
    Backend::from_env(var).unwrap_or_else(|e| panic!("itest: {e}"))
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
        match tool.resolve(std::env::var_os(tool.env), self.path.clone()) {
            Some(found) => {
                println!("cargo::rerun-if-changed={}", found.display());
                None
            }
            None => Some(tool.missing_message()),
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

    /// `None` if the daemon can run on the backend `backend_var` chooses:
    /// its binary here, or the engine with its image.
    fn daemon(
        &self,
        backend_var: &str,
        tool: Tool,
        image_var: &str,
        default_image: &str,
    ) -> Option<String> {
        match backend(backend_var) {
            Backend::Native => self.binary(tool),
            Backend::Docker => {
                let image = probe::images::from_env(image_var, default_image);
                self.image(&image, image_var)
                    .err()
                    .map(|why| format!("{} in a container: {why}", tool.name))
            }
        }
    }
}
