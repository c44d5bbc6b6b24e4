//! `plugin start`, `stop` and `list` on a node.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{lock, Node};
use crate::error::{Error, Result};

impl Node {
    /// `plugin start` with the plugin's options as named parameters (values
    /// sent as JSON strings; lightningd parses them with the option's type).
    /// A failure names the plugin and quotes what lightningd logged about
    /// it and lightningd's stderr, which the plugin shares; a plugin that
    /// never answers gets no reply before lightningd's own limit (120 s on
    /// v25.02 and later), so the call's limit usually passes first.
    pub fn plugin_start(&self, path: impl AsRef<Path>, options: &[(&str, &str)]) -> Result<Value> {
        let stderr_from = self.stderr_len();
        let began = std::time::Instant::now();
        let started = self
            .start_plugin(path.as_ref(), options)
            .map_err(|e| e.note(self.plugin_start_failure(path.as_ref(), stderr_from)));
        self.timeline
            .record(format!("{}: plugin started", self.name), began);
        started
    }

    fn start_plugin(&self, path: &Path, options: &[(&str, &str)]) -> Result<Value> {
        self.check_visible(path)?;
        let mut params = Map::new();
        params.insert("subcommand".into(), json!("start"));
        params.insert("plugin".into(), json!(path));
        for (name, value) in options {
            params.insert((*name).to_string(), json!(value));
        }
        self.call("plugin", Value::Object(params))
    }

    /// Makes the plugin readable where lightningd runs (a copy into a
    /// container that shares no paths); where it cannot be, says why
    /// instead of lightningd's bare "No such file".
    pub(super) fn check_visible(&self, path: &Path) -> Result<()> {
        let running = lock(&self.running);
        match &running.daemon {
            Some(daemon) => daemon.provide(path).map_err(Error::msg),
            None => Ok(()),
        }
    }

    /// `plugin stop <name>`: `name` is the plugin's file name or full path.
    pub fn plugin_stop(&self, name: &str) -> Result<Value> {
        self.call("plugin", json!({"subcommand": "stop", "plugin": name}))
    }

    /// `plugin list`.
    pub fn plugin_list(&self) -> Result<Value> {
        self.call("plugin", json!({"subcommand": "list"}))
    }
}
