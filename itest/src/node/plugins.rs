//! `plugin start`, `stop` and `list` on a node.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::Node;
use crate::error::{Error, Result};

impl Node {
    /// `plugin start` with the plugin's options as named parameters (values
    /// sent as JSON strings; lightningd parses them with the option's type).
    pub fn plugin_start(&self, path: impl AsRef<Path>, options: &[(&str, &str)]) -> Result<Value> {
        self.check_visible(path.as_ref())?;
        let mut params = Map::new();
        params.insert("subcommand".into(), json!("start"));
        params.insert("plugin".into(), json!(path.as_ref()));
        for (name, value) in options {
            params.insert((*name).to_string(), json!(value));
        }
        self.call("plugin", Value::Object(params))
    }

    /// A plugin lightningd cannot see where it runs would fail with a bare
    /// "No such file"; say why instead.
    fn check_visible(&self, path: &Path) -> Result<()> {
        self.placement
            .check_visible(path, &self.name)
            .map_err(Error::msg)
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
