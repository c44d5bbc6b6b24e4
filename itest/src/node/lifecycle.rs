//! Starting and stopping a node, and how it ended.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::json;

use super::{Node, StartError, TAIL_LINES};
use crate::daemon::boundary::{Daemon, DaemonSpec, Side};
use crate::findings::{self, Exit, Finding};
use crate::lightningd::options::clock_env;
use crate::wait::wait_until;

impl Node {
    /// Launches lightningd without waiting; see [`Node::wait_ready`].
    pub(crate) fn launch(&self) -> Result<(), StartError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = &running.daemon {
            if d.exited().is_none() {
                return Err(self.start_error("it is already running".into()));
            }
        }
        // A stale socket from an earlier run must not answer for this one.
        self.rpc.reset();
        let args = self
            .args()
            .map_err(|e| self.start_error(format!("{e:#}")))?;
        let mut spec = DaemonSpec::new(
            &self.name,
            self.bin.path.clone(),
            args.into_iter().map(OsString::from).collect(),
            self.dir.clone(),
            self.log_path(),
        );
        spec.env = clock_env(&self.bin, self.libfaketime.as_deref());
        spec.inputs = self.inputs(&spec.env);
        spec.dirs = vec![self.bitcoind.datadir().to_path_buf()];
        spec.state = Some(self.dir.clone());
        spec.fetch_state = true;
        spec.ports = std::iter::once(self.peer.port)
            .chain(self.grpc.as_ref().map(|g| g.port))
            .collect();
        spec.socket = Some(self.rpc.socket_path().to_path_buf());
        let daemon = self
            .placement
            .launch(&spec)
            .map_err(|e| self.start_error(format!("{e:#}")))?;
        let here = self
            .placement
            .reach(&*daemon, self.peer.port, Side::ThisMachine)
            .ok();
        *self.address.lock().unwrap_or_else(|p| p.into_inner()) = here;
        running.daemon = Some(daemon);
        Ok(())
    }

    /// Waits until `getinfo` answers with neither `warning_bitcoind_sync`
    /// nor `warning_lightningd_sync`, at bitcoind's current height or
    /// above. On timeout or early exit the node is killed and the error
    /// carries its log tail.
    pub(crate) fn wait_ready(&self) -> Result<(), StartError> {
        let min_height = self
            .bitcoind
            .height()
            .map_err(|e| self.start_error(format!("{e:#}")))?;
        let what = format!(
            "getinfo without sync warnings and blockheight >= {min_height} (limit {}s)",
            self.timeout.as_secs()
        );
        let ready = wait_until(&what, self.timeout, |last| {
            if let Some(status) = self.exit_status() {
                bail!("exited early with {status}");
            }
            let reply = self
                .rpc
                .call_with_timeout("getinfo", json!({}), Duration::from_secs(5));
            match reply {
                Ok(info) => {
                    let warnings: Vec<&str> = ["warning_bitcoind_sync", "warning_lightningd_sync"]
                        .into_iter()
                        .filter(|w| info.get(*w).is_some())
                        .collect();
                    let height = info["blockheight"].as_u64().unwrap_or(0);
                    if warnings.is_empty() && height >= min_height {
                        return Ok(Some(()));
                    }
                    *last = format!("getinfo blockheight {height}, warnings {warnings:?}");
                    Ok(None)
                }
                Err(e) => {
                    *last = e.to_string();
                    Ok(None)
                }
            }
        });
        ready.map_err(|e| {
            let err = self.start_error(format!("{e:#}"));
            self.kill();
            err
        })
    }

    fn start_error(&self, reason: String) -> StartError {
        StartError {
            node: self.name.clone(),
            reason,
            log_tail: self.log_tail(TAIL_LINES),
        }
    }

    /// Starts the node and waits until it is ready (synced with bitcoind).
    /// A node that fails to start is killed and reported with its log
    /// tail; the network stays usable.
    pub fn start(&self) -> Result<(), StartError> {
        self.launch()?;
        self.wait_ready()
    }

    /// Stops the node: the `stop` RPC, a short wait, then SIGKILL for
    /// whatever is left (plugins included). Keeps its directory, so
    /// [`Node::start`] brings back the same node with its channels.
    /// Stopping a stopped node does nothing.
    pub fn stop(&self) -> Result<()> {
        let daemon = self.take_daemon();
        if let Some(daemon) = daemon {
            if daemon.exited().is_none() {
                let _ = self
                    .rpc
                    .call_with_timeout("stop", json!({}), Duration::from_secs(5));
                daemon.wait_exit(Duration::from_secs(10));
            }
            let exit = daemon.exited().map_or(Exit::KilledAfterStop, Exit::Exited);
            daemon.kill(Duration::from_secs(1));
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.exits.push(exit);
        }
        self.rpc.reset();
        Ok(())
    }

    /// [`Node::stop`] then [`Node::start`].
    pub fn restart(&self) -> Result<(), StartError> {
        self.stop()
            .map_err(|e| self.start_error(format!("stopping: {e:#}")))?;
        self.start()
    }

    /// Whether lightningd is running (started and not exited).
    pub fn is_running(&self) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .daemon
            .as_ref()
            .is_some_and(|d| d.exited().is_none())
    }

    /// How lightningd exited, if it was started and is no longer running
    /// (and was not stopped through [`Node::stop`]): a node that died.
    pub fn exit_status(&self) -> Option<String> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .daemon
            .as_ref()
            .and_then(|d| d.exited())
            .map(|e| e.how)
    }

    /// The running daemon, if any, now owned by the caller: whoever takes
    /// it stops it, so a concurrent stop or kill finds nothing to do.
    fn take_daemon(&self) -> Option<Box<dyn Daemon>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .daemon
            .take()
    }

    /// Kills the node without a graceful stop (teardown and failed starts).
    pub(crate) fn kill(&self) {
        let daemon = self.take_daemon();
        if let Some(daemon) = daemon {
            daemon.kill(Duration::from_secs(1));
        }
    }

    /// Graceful teardown (network drop): `stop` RPC, short wait, kill.
    pub(crate) fn shutdown(&self) {
        let _ = self.stop();
    }

    /// Why this node fails its teardown checks; empty if it passes. Call
    /// after the node was stopped, so every exit is known.
    pub(crate) fn teardown_findings(&self) -> Result<Vec<Finding>> {
        let exits = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .exits
            .clone();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let evidence = findings::Evidence {
            log: log.lines()?,
            dirs: vec![self.dir.clone(), self.dir.join("regtest")],
            exits: &exits,
        };
        Ok(findings::check(&evidence, &self.tolerance))
    }
}
