//! Starting and stopping a node, and how it ended.
//!
//! A lightningd process ends in one of two ways, as far as a test is
//! concerned:
//! - **exited**: the test stopped it ([`Node::stop`]), it exited cleanly
//!   by itself (a `stop` call, any clean route), its start failed and was
//!   reported as a [`StartError`](crate::StartError), or the test waited
//!   for it to end ([`Node::wait_exit`]);
//! - **died**: it exited by itself, not cleanly, and nobody waited for it.
//!   Calls and waits on it fail saying so, and at teardown the test fails
//!   unless [`NodeConf::may_fail`](crate::NodeConf::may_fail).

use std::ffi::OsString;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{lock, startup_plugins, Ended, Node, TAIL_LINES};
use crate::daemon::boundary::{Daemon, DaemonSpec, ExitStatus, Side};
use crate::error::{Error, Result, StartError};
use crate::findings::{self, Exit, Finding};
use crate::lightningd::options::clock_env;
use crate::wait::wait_until;

/// How long the harness waits for a killed lightningd's process group.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// Where a node is in its life; see [`Node::state`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeState {
    /// Never started ([`NodeConf::start`](crate::NodeConf::start) false).
    NotStarted,
    /// lightningd runs (it may not be ready yet after [`Node::launch`]).
    Running,
    /// lightningd ended the way the test asked for or expected (see the
    /// module docs), with this status.
    Exited(ExitStatus),
    /// lightningd exited by itself, not cleanly, and nobody waited for it.
    Died(ExitStatus),
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeState::NotStarted => f.write_str("not started"),
            NodeState::Running => f.write_str("running"),
            NodeState::Exited(status) => write!(f, "stopped ({status})"),
            NodeState::Died(status) => write!(f, "dead (DIED: {status})"),
        }
    }
}

impl Node {
    /// Where the node is in its life.
    pub fn state(&self) -> NodeState {
        let running = lock(&self.running);
        if let Some(daemon) = &running.daemon {
            return match daemon.exited() {
                None => NodeState::Running,
                Some(status) if status.success() => NodeState::Exited(status),
                Some(status) => NodeState::Died(status),
            };
        }
        match &running.ended {
            None => NodeState::NotStarted,
            Some(ended) if ended.died => NodeState::Died(ended.status.clone()),
            Some(ended) => NodeState::Exited(ended.status.clone()),
        }
    }

    /// Whether lightningd is running (started and not exited).
    pub fn is_running(&self) -> bool {
        self.state() == NodeState::Running
    }

    /// How the last lightningd process of this node ended, however it
    /// ended (stopped, died, a failed start); `None` while it runs or if it
    /// never started.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self.state() {
            NodeState::Exited(status) | NodeState::Died(status) => Some(status),
            NodeState::NotStarted | NodeState::Running => None,
        }
    }

    /// How lightningd ended, if it died (see [`NodeState::Died`]).
    pub fn died(&self) -> Option<ExitStatus> {
        match self.state() {
            NodeState::Died(status) => Some(status),
            _ => None,
        }
    }

    /// How the running process ended, if it has (a clean exit included).
    fn current_exit(&self) -> Option<ExitStatus> {
        lock(&self.running).daemon.as_ref().and_then(|d| d.exited())
    }

    /// Starts lightningd and returns at once, without waiting until it is
    /// ready: then [`Node::wait_ready`], or [`Node::wait_exit`] for a start
    /// that should fail. Fails if it already runs, or if it cannot be
    /// launched at all.
    pub fn launch(&self) -> Result<()> {
        let name = &self.name;
        self.timeline
            .time(format!("{name}: lightningd launched"), || {
                self.launch_untimed()
            })
    }

    fn launch_untimed(&self) -> Result<()> {
        // Before `running` is locked: a log wait holds the log, then asks
        // for the state.
        self.note_launch();
        let mut running = lock(&self.running);
        if let Some(previous) = running.daemon.take() {
            match previous.exited() {
                None => {
                    running.daemon = Some(previous);
                    drop(running);
                    return Err(self.start_error("it is already running".into(), None));
                }
                // It ended by itself: keep how, for state and teardown.
                Some(status) => {
                    running.ended = Some(Ended {
                        died: !status.success(),
                        status: status.clone(),
                    });
                    running.exits.push(Exit::Exited(status));
                    previous.kill(KILL_GRACE);
                }
            }
        }
        // A stale socket from an earlier run must not answer for this one.
        self.rpc.reset();
        let conf = self.conf();
        let bin = lock(&self.bin).clone();
        if let Err(e) = self.write_fault_files(&conf) {
            drop(running);
            return Err(self.start_error(e.to_string(), None));
        }
        let prepared = conf
            .plugins()
            .enumerate()
            .map(|(i, plugin)| self.plugin_path(i, plugin))
            .collect::<Result<Vec<_>>>();
        let plugins = match prepared {
            Ok(plugins) => plugins,
            Err(e) => {
                drop(running);
                return Err(self.start_error(e.to_string(), None));
            }
        };
        let wallet = match self.wallet_options(&conf, &bin) {
            Ok(wallet) => wallet,
            Err(e) => {
                drop(running);
                return Err(self.start_error(format!("{e:#}"), None));
            }
        };
        let mut env = clock_env(&bin, self.libfaketime.as_deref());
        env.extend(super::memleak::env(&conf, &bin));
        env.extend(
            crate::lightningd::pyln_defaults::env(&conf)
                .into_iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        env.extend(
            conf.env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        let mut args = self.args(&conf, &bin, &plugins);
        args.extend(wallet);
        let mut spec = DaemonSpec::new(
            &self.name,
            bin.path.clone(),
            args.into_iter().map(OsString::from).collect(),
            self.dir.clone(),
            self.log_path(),
        );
        spec.inputs = self.inputs(&conf, &plugins, &env);
        spec.env = env;
        spec.dirs = vec![self.bitcoind.datadir().to_path_buf()];
        spec.state = Some(self.dir.clone());
        spec.fetch_state = true;
        spec.ports = std::iter::once(self.peer.port)
            .chain(lock(&self.grpc).as_ref().map(|g| g.port))
            .collect();
        spec.socket = Some(self.rpc.socket_path().to_path_buf());
        running.stderr_from = self.stderr_len();
        running.plugins = startup_plugins::expected(&conf, &plugins);
        let inherited = self.note_inheritable_fds();
        match self.placement.launch(&spec) {
            Ok(daemon) => {
                running.inherited = inherited;
                let here = self
                    .placement
                    .reach(&*daemon, self.peer.port, Side::ThisMachine)
                    .ok();
                *lock(&self.address) = here;
                running.daemon = Some(daemon);
                running.ended = None;
                Ok(())
            }
            Err(e) => {
                drop(running);
                Err(self.start_error(format!("{e:#}"), None))
            }
        }
    }

    /// Waits until the launched lightningd is ready: `getinfo` answers
    /// with neither `warning_bitcoind_sync` nor `warning_lightningd_sync`,
    /// at bitcoind's current height or above. On timeout or early exit the
    /// node is killed and the [`StartError`] carries its exit status,
    /// stderr and log tail.
    pub fn wait_ready(&self) -> Result<()> {
        let name = &self.name;
        self.timeline.time(
            format!("{name}: lightningd ready (synced, plugins active)"),
            || self.wait_ready_untimed(),
        )
    }

    fn wait_ready_untimed(&self) -> Result<()> {
        if lock(&self.running).daemon.is_none() {
            return Err(self.start_error(
                "it was not launched (Node::launch or Node::start first)".into(),
                None,
            ));
        }
        let started = Instant::now();
        let ready = self.bitcoind.height().and_then(|min_height| {
            let what = format!(
                "{}: getinfo without sync warnings and blockheight >= {min_height}",
                self.name
            );
            wait_until(&what, self.timeout, |last| {
                if let Some(status) = self.current_exit() {
                    return Err(Error::msg(format!("exited early with {status}")));
                }
                let reply = self.rpc.call("getinfo", json!({}), Duration::from_secs(5));
                match reply {
                    Ok(info) => {
                        let warnings: Vec<&str> =
                            ["warning_bitcoind_sync", "warning_lightningd_sync"]
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
                        *last = format!("{e:?}");
                        Ok(None)
                    }
                }
            })
        });
        let plugins = lock(&self.running).plugins.clone();
        let checked = match ready {
            Ok(()) => {
                let left = self.timeout.saturating_sub(started.elapsed());
                self.check_plugins(&plugins, left)
            }
            Err(e) => Err(format!("{e}{}", self.plugin_diagnosis(&plugins))),
        };
        checked.map_err(|reason| {
            let exited = self.current_exit();
            // Read before the kill: then its plugins only complain of the
            // lost connection.
            let mut error = self.start_error_parts(reason, None);
            self.kill();
            // Killed now if it had not exited: then the kill is how it ended.
            error.status = exited.or_else(|| self.exit_status());
            Error::start(error)
        })?;
        self.note_ready();
        Ok(())
    }

    fn start_error(&self, reason: String, status: Option<ExitStatus>) -> Error {
        Error::start(self.start_error_parts(reason, status))
    }

    fn start_error_parts(&self, reason: String, status: Option<ExitStatus>) -> StartError {
        StartError {
            node: self.name.clone(),
            reason,
            status,
            stderr: self.stderr().unwrap_or_default(),
            log_tail: self.log_tail(TAIL_LINES),
        }
    }

    /// `Ok` when `err` is this node's failure to start and its
    /// configuration expects one ([`NodeConf::expect_fail`]), else `err`.
    ///
    /// [`NodeConf::expect_fail`]: crate::NodeConf::expect_fail
    pub(crate) fn failed_as_expected(&self, err: Error) -> Result<()> {
        if err.start_error().is_some() && lock(&self.conf).expect_fail {
            Ok(())
        } else {
            Err(err)
        }
    }

    /// Starts the node and waits until it is ready (synced with bitcoind):
    /// [`Node::launch`] then [`Node::wait_ready`]. A node that fails to
    /// start is killed and reported as a [`StartError`] (match it with
    /// [`Error::start_error`]); the network stays usable.
    pub fn start(&self) -> Result<()> {
        self.launch()?;
        self.wait_ready()
    }

    /// Waits until lightningd exits by itself (an expected start-up
    /// failure, a plugin that makes it exit, a `stop` call) and returns
    /// how, within [`Conf::timeout`](crate::Conf::timeout). The exit is
    /// then expected: not reported as a death. A node that had already
    /// ended returns how it ended.
    pub fn wait_exit(&self) -> Result<ExitStatus> {
        self.wait_exit_within(self.timeout)
    }

    /// [`Node::wait_exit`] with its own limit.
    pub fn wait_exit_within(&self, limit: Duration) -> Result<ExitStatus> {
        let what = format!("{}'s lightningd to exit", self.name);
        let status = wait_until(&what, limit, |_| {
            let running = lock(&self.running);
            Ok(match &running.daemon {
                Some(daemon) => daemon.exited(),
                None => match &running.ended {
                    Some(ended) => Some(ended.status.clone()),
                    None => return Err(Error::msg(format!("{} was never started", self.name))),
                },
            })
        })?;
        if let Some(daemon) = self.take_daemon() {
            // Plugins may still be exiting: end the whole group.
            daemon.kill(KILL_GRACE);
        }
        lock(&self.running).ended = Some(Ended {
            status: status.clone(),
            died: false,
        });
        Ok(status)
    }

    /// Stops the node: the `stop` RPC, then up to its stop budget
    /// ([`NodeConf::stop_timeout`](crate::NodeConf::stop_timeout), default
    /// [`Conf::stop_timeout`](crate::Conf::stop_timeout), 60 s) for
    /// lightningd to exit, then SIGKILL for whatever is left (plugins
    /// included). Keeps its directory, so [`Node::start`] brings back the
    /// same node with its channels. Stopping a stopped node does nothing.
    /// Fails if lightningd had to be killed (which the teardown checks
    /// report too).
    pub fn stop(&self) -> Result<()> {
        let name = &self.name;
        self.timeline
            .time(format!("{name}: stopped"), || self.stop_untimed())
    }

    fn stop_untimed(&self) -> Result<()> {
        let budget = self.stop_timeout();
        self.keep_inherited_fds();
        let Some(daemon) = self.take_daemon() else {
            self.rpc.reset();
            return Ok(());
        };
        let started = Instant::now();
        let mut died = false;
        match daemon.exited() {
            None => {
                let _ = self.rpc.call("stop", json!({}), budget);
                daemon.wait_exit(budget.saturating_sub(started.elapsed()));
            }
            Some(status) => died = !status.success(),
        }
        let before_kill = daemon.exited();
        daemon.kill(KILL_GRACE);
        let status = before_kill
            .clone()
            .or_else(|| daemon.exited())
            .unwrap_or_else(|| ExitStatus::unknown("killed after `stop`".into()));
        let exit = before_kill.map_or(Exit::KilledAfterStop, Exit::Exited);
        let killed = exit == Exit::KilledAfterStop;
        {
            let mut running = lock(&self.running);
            running.exits.push(exit);
            running.ended = Some(Ended { status, died });
        }
        self.rpc.reset();
        if killed {
            return Err(Error::timeout(
                format!("{} to exit after the `stop` RPC; it was killed", self.name),
                budget,
                None,
                "the budget is NodeConf::stop_timeout, else Conf::stop_timeout",
            ));
        }
        Ok(())
    }

    /// [`Node::stop`] then [`Node::start`].
    pub fn restart(&self) -> Result<()> {
        self.stop()?;
        self.start()
    }

    /// The running daemon, if any, now owned by the caller: whoever takes
    /// it stops it, so a concurrent stop or kill finds nothing to do.
    fn take_daemon(&self) -> Option<Box<dyn Daemon>> {
        lock(&self.running).daemon.take()
    }

    /// Kills the node without a graceful stop (failed starts), keeping
    /// how it ended as expected.
    pub(crate) fn kill(&self) {
        if let Some(daemon) = self.take_daemon() {
            let before = daemon.exited();
            daemon.kill(KILL_GRACE);
            let status = before
                .or_else(|| daemon.exited())
                .unwrap_or_else(|| ExitStatus::unknown("killed by the harness".into()));
            lock(&self.running).ended = Some(Ended {
                status,
                died: false,
            });
        }
    }

    /// Graceful teardown (network drop): [`Node::stop`], whose failure the
    /// teardown checks report.
    pub(crate) fn shutdown(&self) {
        let _ = self.stop();
    }

    /// Why this node fails its teardown checks; empty if it passes. Call
    /// after the node was stopped, so every exit is known, with what
    /// [`Node::memleak_report`] said before it stopped.
    pub(crate) fn teardown_findings(&self, leaks: Option<String>) -> Result<Vec<Finding>> {
        let (exits, fd_findings) = {
            let running = lock(&self.running);
            (running.exits.clone(), running.fd_findings.clone())
        };
        let tolerance = lock(&self.tolerance).clone();
        let traces = self.all_plugin_traces()?;
        let mut log = lock(&self.log);
        let lines = log.lines()?;
        let evidence = findings::Evidence {
            log: lines,
            dirs: vec![self.dir.clone(), self.dir.join("regtest")],
            exits: &exits,
            leaks,
        };
        let mut found = findings::check(&evidence, &tolerance);
        // After the log's own findings: what lightningd rejected, quoted
        // from the traces (the trace module builds on the findings, not
        // the other way round).
        found.extend(crate::trace::rejections::findings(
            lines,
            &tolerance.allow_log,
            &traces,
        ));
        found.extend(fd_findings);
        Ok(found)
    }
}
