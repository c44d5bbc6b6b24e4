//! Reading and waiting on the traces of a node's traced plugins
//! ([`PluginConf::traced`](crate::PluginConf::traced),
//! [`Node::plugin_start_traced`]).
//!
//! Waits work like log waits: each plugin's trace has a cursor, a wait
//! returns the first matching message after it and moves it past that
//! message, so two waits for the same hook return two calls.
//! [`Node::wait_for_reply`] searches after its request instead and leaves
//! the cursor alone. A wait on a node that is not running fails at once
//! when the message is not there, since nothing more can be sent.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;

use super::{lock, Node};
use crate::error::{bail, Context, Result};
use crate::logs::pattern::Pattern;
use crate::trace::record;
use crate::trace::relay::{trace_path, TRACE_DIR};
use crate::trace::{PluginTrace, TraceMessage};
use crate::wait::wait_until;

/// Per-node trace state: where each plugin's waits continue, and which
/// plugins were started traced with `plugin start`.
#[derive(Debug, Default)]
pub(crate) struct Traces {
    cursors: HashMap<String, usize>,
    started: BTreeSet<String>,
}

impl Node {
    /// Everything the traced plugin `plugin` (its file name, as lightningd
    /// names it: `my-plugin.py`) and lightningd sent each other so far, on
    /// every run of the plugin on this node. Fails for a plugin that is not
    /// traced.
    ///
    /// ```no_run
    /// # fn f(l1: &cln_itest::Node) -> cln_itest::Result<()> {
    /// let trace = l1.plugin_trace("my-plugin")?;
    /// let hooks = &trace.manifest().unwrap()["hooks"];
    /// for call in trace.hook_calls("peer_connected") {
    ///     let reply = trace.reply_to(call).expect("answered");
    ///     assert_eq!(reply.result().unwrap()["result"], "continue");
    /// }
    /// # let _ = hooks; Ok(()) }
    /// ```
    pub fn plugin_trace(&self, plugin: &str) -> Result<PluginTrace> {
        self.check_traced(plugin)?;
        self.read_trace(plugin)
    }

    fn read_trace(&self, plugin: &str) -> Result<PluginTrace> {
        self.fetch_traces()?;
        let path = trace_path(&self.dir, plugin);
        let records =
            record::read(&path).with_context(|| format!("{}: plugin {plugin}", self.name))?;
        Ok(PluginTrace::from_records(plugin, &path, records))
    }

    /// Waits for the next message (after the cursor) for which `matches`
    /// is true; `what` names it in the timeout error.
    ///
    /// ```no_run
    /// # fn f(l1: &cln_itest::Node) -> cln_itest::Result<()> {
    /// use cln_itest::Direction;
    ///
    /// let log = l1.wait_for_plugin_message("my-plugin", "a log notification", |m| {
    ///     m.direction == Direction::FromPlugin && m.method() == Some("log")
    /// })?;
    /// assert_eq!(log.params().unwrap()["level"], "info");
    /// # Ok(()) }
    /// ```
    pub fn wait_for_plugin_message(
        &self,
        plugin: &str,
        what: &str,
        mut matches: impl FnMut(&TraceMessage) -> bool,
    ) -> Result<TraceMessage> {
        self.check_traced(plugin)?;
        let from = lock(&self.traces).cursors.get(plugin).copied().unwrap_or(0);
        let found = self.wait_in_trace(plugin, what, from, &mut matches)?;
        lock(&self.traces)
            .cursors
            .insert(plugin.to_string(), found.index + 1);
        Ok(found)
    }

    /// Waits for lightningd's next call of the hook `hook` to `plugin`
    /// (also any request named `hook`: RPC methods and hooks share one
    /// namespace). Its reply: [`Node::wait_for_reply`].
    pub fn wait_for_hook_call(&self, plugin: &str, hook: &str) -> Result<TraceMessage> {
        self.wait_for_plugin_message(plugin, &format!("a call of hook {hook}"), |m| {
            m.direction == crate::trace::Direction::ToPlugin
                && m.is_request()
                && m.method() == Some(hook)
        })
    }

    /// Waits for the next message whose raw JSON text `pattern` matches (a
    /// regex, or [`Pattern::literal`] text), either way.
    pub fn wait_for_plugin_traffic(
        &self,
        plugin: &str,
        pattern: impl Into<Pattern>,
    ) -> Result<TraceMessage> {
        let pattern = pattern.into();
        let regex = pattern.compile()?;
        self.wait_for_plugin_message(plugin, &format!("a message matching {pattern}"), |m| {
            regex.is_match(&m.raw)
        })
    }

    /// Waits for the reply to `request` (a message from this plugin's
    /// trace): the first later message of the same run, the other way,
    /// with its id. Leaves the cursor where it is.
    pub fn wait_for_reply(&self, plugin: &str, request: &TraceMessage) -> Result<TraceMessage> {
        self.check_traced(plugin)?;
        let Some(id) = request.id().cloned() else {
            bail!(
                "{}: message #{} has no id: no reply to wait for",
                self.name,
                request.index
            );
        };
        let what = format!("the reply to #{} (id {id})", request.index);
        self.wait_in_trace(plugin, &what, request.index + 1, &mut |m| {
            m.run == request.run
                && m.direction != request.direction
                && m.is_reply()
                && m.id() == Some(&id)
        })
    }

    /// The first message at or after `from` that `matches`.
    fn wait_in_trace(
        &self,
        plugin: &str,
        what: &str,
        from: usize,
        matches: &mut dyn FnMut(&TraceMessage) -> bool,
    ) -> Result<TraceMessage> {
        let waited = format!("{}: plugin {plugin}'s trace to show {what}", self.name);
        wait_until(&waited, self.timeout, |last| {
            // Read the state first: a message sent before lightningd
            // stopped is in the file by then (the relay writes first).
            let running = self.is_running();
            let trace = self.read_trace(plugin)?;
            if let Some(m) = trace.messages().iter().skip(from).find(|m| matches(m)) {
                return Ok(Some(m.clone()));
            }
            *last = match trace.messages().last() {
                Some(m) => format!("{} messages, the last: {m}", trace.messages().len()),
                None => "no message yet".to_string(),
            };
            if !running {
                bail!(
                    "{waited}: not there, and {} is {}, so nothing more will be sent ({last})",
                    self.name,
                    self.state()
                );
            }
            Ok(None)
        })
    }

    /// `plugin start` of `path` through the relay, so that its traffic is
    /// traced ([`Node::plugin_trace`] with its file name), with the
    /// plugin's options as in [`Node::plugin_start`]. lightningd sees the
    /// plugin's file name, so `plugin stop <name>` works as usual; a later
    /// `plugin_start_traced` of the same plugin appends a new run to the
    /// same trace.
    pub fn plugin_start_traced(
        &self,
        path: impl AsRef<Path>,
        options: &[(&str, &str)],
    ) -> Result<Value> {
        let plugin = crate::conf::PluginConf::new(path.as_ref()).traced();
        let wrapper = self.started_plugin_wrapper(&plugin)?;
        // The relay must be where lightningd runs (a copy into a container
        // that shares no paths), as the plugin and its wrapper are.
        let relay = crate::trace::relay::relay_binary()?;
        if let Some(daemon) = &lock(&self.running).daemon {
            daemon.provide(&relay).map_err(crate::error::Error::msg)?;
        }
        self.check_visible(path.as_ref())?;
        if let Some(name) = path.as_ref().file_name() {
            lock(&self.traces)
                .started
                .insert(name.to_string_lossy().into_owned());
        }
        self.plugin_start(wrapper, options)
    }

    /// In a container that shares no paths, copies the traces back from
    /// it while it runs (a stopped one's directory was copied back when
    /// it stopped).
    fn fetch_traces(&self) -> Result<()> {
        if !self.placement.logs_to_stdout() {
            return Ok(());
        }
        let running = lock(&self.running);
        match &running.daemon {
            Some(daemon) if daemon.exited().is_none() => daemon
                .fetch_dir(&self.dir.join(TRACE_DIR))
                .map_err(crate::error::Error::msg)
                .with_context(|| format!("{}: reading plugin traces", self.name)),
            _ => Ok(()),
        }
    }

    /// The traces of every traced plugin that ran on this node.
    pub(crate) fn all_plugin_traces(&self) -> Result<Vec<PluginTrace>> {
        let dir = self.dir.join(TRACE_DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".trace").map(str::to_string)
            })
            .collect();
        names.sort();
        names.iter().map(|name| self.read_trace(name)).collect()
    }

    /// Fails for a plugin this node does not trace, naming those it does.
    fn check_traced(&self, plugin: &str) -> Result<()> {
        let mut traced: BTreeSet<String> = lock(&self.traces).started.clone();
        traced.extend(
            lock(&self.conf)
                .plugins()
                .filter(|p| p.traced)
                .filter_map(|p| p.path.file_name())
                .map(|f| f.to_string_lossy().into_owned()),
        );
        if traced.contains(plugin) || trace_path(&self.dir, plugin).exists() {
            return Ok(());
        }
        bail!(
            "{}: plugin {plugin} is not traced (PluginConf::traced, Node::plugin_start_traced); \
             traced here: {traced:?}",
            self.name
        )
    }
}
