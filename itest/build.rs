//! Decides at compile time which integration tests can run.
//!
//! libtest cannot skip a test at run time, and a test that returns early
//! passes silently. Instead, when a daemon binary is missing we emit a cfg
//! that the tests turn into `#[ignore = "<reason>"]`, so `cargo test` lists
//! each skipped test with its reason and counts it as ignored.
//! `ITEST_REQUIRE=1` disables this: the tests then run and fail loudly.

#[path = "src/backend.rs"]
mod backend;
mod build_shim;
#[path = "src/docker/engine.rs"]
mod docker_engine;
#[path = "src/lookup.rs"]
mod lookup;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(itest_no_lightningd)");
    println!("cargo::rustc-check-cfg=cfg(itest_no_bitcoind)");
    println!("cargo::rustc-check-cfg=cfg(itest_no_docker_engine)");
    println!("cargo::rustc-check-cfg=cfg(itest_no_docker_bitcoind)");
    println!("cargo::rustc-check-cfg=cfg(itest_no_native_daemons)");
    for var in ["PATH", "ITEST_REQUIRE"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=src/lookup.rs");
    println!("cargo::rerun-if-changed=build.rs");
    build_shim::compile();

    let path_var = std::env::var_os("PATH");
    // A binary installed into (or removed from) a PATH directory changes
    // that directory's mtime, which makes cargo re-run this script.
    for dir in lookup::path_dirs(path_var.clone()) {
        println!("cargo::rerun-if-changed={}", dir.display());
    }

    let require = std::env::var("ITEST_REQUIRE").is_ok_and(|v| v == "1");
    // A daemon in a container needs the engine, not its binary.
    let backend = |var: &str| {
        println!("cargo::rerun-if-env-changed={var}");
        backend::Backend::from_env(var).unwrap_or_else(|e| panic!("itest: {e}"))
    };
    println!("cargo::rerun-if-env-changed=ITEST_BACKEND");
    let lightningd_in_docker = backend(backend::LIGHTNINGD_BACKEND_VAR) == backend::Backend::Docker;
    let bitcoind_in_docker = backend(backend::BITCOIND_BACKEND_VAR) == backend::Backend::Docker;
    let engine_missing = write_docker_skip(require);
    // `native_missing`: binaries not on this machine; `missing`: those of
    // them the chosen backends need.
    let (mut native_missing, mut missing) = (Vec::new(), Vec::new());
    for tool in lookup::ALL {
        println!("cargo::rerun-if-env-changed={}", tool.env);
        let in_docker = match tool.name {
            // bitcoin-cli is lightningd's (its bcli plugin runs it); a
            // lightningd image has its own.
            "lightningd" | "bitcoin-cli" => lightningd_in_docker,
            _ => bitcoind_in_docker,
        };
        match tool.resolve(std::env::var_os(tool.env), path_var.clone()) {
            Some(found) => println!("cargo::rerun-if-changed={}", found.display()),
            None => {
                native_missing.push(tool.name);
                if !in_docker {
                    missing.push(tool.name);
                }
            }
        }
    }
    if require {
        return;
    }
    if !native_missing.is_empty() {
        // Tests of things that only run natively (scripts/start_ln.sh).
        println!("cargo::rustc-cfg=itest_no_native_daemons");
    }
    // Tests of daemons in containers need the engine (skip.rs gives them
    // its reason).
    if engine_missing && (lightningd_in_docker || bitcoind_in_docker) {
        println!("cargo::rustc-cfg=itest_no_docker_engine");
    }
    if engine_missing && bitcoind_in_docker {
        println!("cargo::rustc-cfg=itest_no_docker_bitcoind");
    }
    if missing.contains(&"lightningd") {
        println!("cargo::rustc-cfg=itest_no_lightningd");
    }
    if missing.contains(&"bitcoind") || missing.contains(&"bitcoin-cli") {
        // Tests needing lightningd check this one too (they need both).
        println!("cargo::rustc-cfg=itest_no_bitcoind");
    }
    if !missing.is_empty() {
        println!(
            "cargo::warning=itest: {} not found; the tests needing it are compiled as ignored (set ITEST_REQUIRE=1 to make them fail instead)",
            missing.join(", ")
        );
    }
}

/// Writes `$OUT_DIR/docker_skip.rs`, the `needs_docker!` macro: a pass-through
/// when the Docker engine answers (or under `ITEST_REQUIRE=1`), else one
/// that marks the test `#[ignore = "<why, which socket, how to fix>"]`.
/// Generated because the reason names the engine address, and an `ignore`
/// reason must be a literal to be shown.
///
/// Returns whether the engine is unreachable.
fn write_docker_skip(require: bool) -> bool {
    println!("cargo::rerun-if-env-changed=DOCKER_HOST");
    println!("cargo::rerun-if-changed=src/docker/engine.rs");
    let host = docker_engine::docker_host();
    if let Some(socket) = host.strip_prefix("unix://") {
        // The socket appearing or vanishing changes its directory's mtime.
        if let Some(dir) = std::path::Path::new(socket).parent() {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    let check = docker_engine::check();
    let reason = match &check {
        Err(reason) => reason.clone(),
        Ok(()) => "unused: the Docker engine answered at build time".to_string(),
    };
    let needs_docker = match &check {
        Err(reason) if !require => {
            println!("cargo::warning=itest: {reason}; the tests needing Docker are compiled as ignored (set ITEST_REQUIRE=1 to make them fail instead)");
            // Not through `__docker_ignored!`: itest's own unit tests use
            // this macro, and a crate may not name its macro-expanded
            // macros by path.
            format!("$crate::__ignored! {{ {reason:?}; $($item)* }}")
        }
        _ => "$($item)*".to_string(),
    };
    let code = format!(
        "/// Wraps a test that needs a Docker engine (and nothing else): it is\n\
         /// compiled as `#[ignore = \"...\"]`, naming the engine address tried\n\
         /// and how to fix it, when no engine answered at build time (never\n\
         /// under `ITEST_REQUIRE=1`).\n\
         #[macro_export]\n\
         macro_rules! needs_docker {{\n    ($($item:tt)*) => {{ {needs_docker} }};\n}}\n\n\
         /// Marks a test ignored because the Docker engine does not answer.\n\
         #[doc(hidden)]\n\
         #[macro_export]\n\
         macro_rules! __docker_ignored {{\n    ($($item:tt)*) => {{ $crate::__ignored! {{ {reason:?}; $($item)* }} }};\n}}\n"
    );
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("docker_skip.rs"), code).expect("writing docker_skip.rs");
    check.is_err()
}
