//! Whether a node's lightningd has the PostgreSQL driver, asked once per
//! binary (or image) and process with `probe::postgres`'s probe start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::daemon::placement::Placement;
use crate::error::{Error, FromInternal, Result};
use crate::probe::postgres::{native_driver, no_driver_message, probe_args, read_probe};

/// How long the probe may take (a first container start included).
const PROBE_LIMIT: Duration = Duration::from_secs(60);

/// `Ok` if `program`, run where `placement` says, can open a
/// `postgres://` wallet; else the error says it was built without the
/// driver and how to get one that has it.
pub(crate) fn check_driver(placement: &Placement, program: &Path) -> Result<()> {
    type Key = (String, PathBuf);
    static CACHE: OnceLock<Mutex<HashMap<Key, bool>>> = OnceLock::new();
    let key = (placement.to_string(), program.to_path_buf());
    let cache = CACHE.get_or_init(Default::default);
    let cached = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .copied();
    let has = match cached {
        Some(has) => has,
        None => {
            let has = if placement.is_native() {
                native_driver(program, PROBE_LIMIT).map_err(Error::msg)?
            } else {
                // A fresh container: its own /tmp holds the lightning-dir.
                let args = probe_args(Path::new("/tmp/itest-pg-probe"));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let output = placement.capture(program, &args).internal()?;
                read_probe(&output).map_err(Error::msg)?
            };
            cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, has);
            has
        }
    };
    if has {
        return Ok(());
    }
    let shown = if placement.is_native() {
        program.display().to_string()
    } else {
        format!("{} in {placement}", program.display())
    };
    Err(Error::msg(no_driver_message(&shown)))
}
