//! The bitcoin-cli stand-in (`shim/bitcoin_cli.rs`) that build.rs
//! compiles: what lightningd's bcli plugin can run as `--bitcoin-cli` on a
//! host that has no bitcoin-cli (bitcoind in a container, lightningd
//! native). It speaks to bitcoind's RPC port directly, so it needs nothing
//! from the container.
//!
//! What bcli runs, read from `plugins/bcli.c` (v23.02.2, v24.11.2,
//! v25.12.1, v26.06.6), always after `-regtest -datadir=<dir>
//! [-rpcclienttimeout=60 (v24.05+)] -rpcconnect=<host> -rpcport=<port>
//! -rpcuser=<user> -stdinrpcpass`, the password first on stdin:
//!
//! | call | params | releases |
//! |------|--------|----------|
//! | `getnetworkinfo` (start-up; exit 28 retried until v25.09) | - | all; v25.12+ as `-rpcwait -rpcwaittimeout=30 getnetworkinfo` |
//! | `getblockchaininfo` | - | all |
//! | `getblockhash` | height (number; exit 8 = not yet) | all |
//! | `getblock` | hash, `0` (raw hex) | all |
//! | `getpeerinfo`, `getblockfrompeer` | -; hash, peer id (number) | v24.05+, only when `getblock` fails (pruned) |
//! | `estimatesmartfee` | `2 CONSERVATIVE`, `6 ECONOMICAL`, `12 ECONOMICAL`, `100 ECONOMICAL` | all |
//! | `getmempoolinfo` | - (reads `mempoolminfee`, `minrelaytxfee`) | v23.05+ |
//! | `sendrawtransaction` | hex [, `0` = no max feerate] (exit 27 = already in chain) | all |
//! | `gettxout` | txid, vout (number; empty output = spent) | all |
//!
//! Until v25.09 the params follow the method on the command line and the
//! password has no newline; from v25.12 `-stdin` is added and the password
//! and each param are lines on stdin. bcli reads stdout and stderr as one
//! stream, takes raw strings (hashes, hex) after trimming whitespace, and
//! JSON otherwise.

use std::path::PathBuf;

use anyhow::{anyhow, Result};

#[cfg(test)]
mod tests;

include!(concat!(env!("OUT_DIR"), "/bitcoin_cli_shim.rs"));

/// The stand-in's path, or why build.rs could not build it (its compile
/// never fails itest's build, so the reason surfaces here, when needed).
pub(crate) fn bitcoin_cli_shim() -> Result<PathBuf> {
    match BITCOIN_CLI_SHIM {
        Ok(path) => Ok(PathBuf::from(path)),
        Err(reason) => Err(anyhow!(
            "the bitcoin-cli stand-in was not built when itest was compiled: {reason}"
        )),
    }
}
