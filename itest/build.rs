//! Decides at compile time which integration tests can run.
//!
//! libtest cannot skip a test at run time, and a test that returns early
//! passes silently. Instead, when a daemon binary is missing we emit a cfg
//! that the tests turn into `#[ignore = "<reason>"]`, so `cargo test` lists
//! each skipped test with its reason and counts it as ignored.
//! `ITEST_REQUIRE=1` disables this: the tests then run and fail loudly.

#[path = "src/lookup.rs"]
mod lookup;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(itest_no_lightningd)");
    println!("cargo::rustc-check-cfg=cfg(itest_no_bitcoind)");
    for var in ["PATH", "ITEST_REQUIRE"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=src/lookup.rs");
    println!("cargo::rerun-if-changed=build.rs");

    let path_var = std::env::var_os("PATH");
    // A binary installed into (or removed from) a PATH directory changes
    // that directory's mtime, which makes cargo re-run this script.
    for dir in lookup::path_dirs(path_var.clone()) {
        println!("cargo::rerun-if-changed={}", dir.display());
    }

    let require = std::env::var("ITEST_REQUIRE").is_ok_and(|v| v == "1");
    let mut missing = Vec::new();
    for tool in lookup::ALL {
        println!("cargo::rerun-if-env-changed={}", tool.env);
        match tool.resolve(std::env::var_os(tool.env), path_var.clone()) {
            Some(found) => println!("cargo::rerun-if-changed={}", found.display()),
            None => missing.push(tool.name),
        }
    }
    if require {
        return;
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
