//! Plugins started through a wrapper: those with an environment of their
//! own ([`PluginConf::env`]) and traced ones ([`PluginConf::traced`]).
//!
//! lightningd starts every plugin with its own environment, so a plugin
//! that needs other variables is started through a `/bin/sh` script that
//! sets them and `exec`s the plugin; a traced plugin's script `exec`s the
//! relay (`crate::trace`), which starts the plugin. The script has the
//! plugin's file name, so lightningd names the plugin, and logs it,
//! exactly as without it. It lies in the node's directory, which
//! containers see too.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::Node;
use crate::conf::PluginConf;
use crate::error::{bail, Context, Result};
use crate::trace::relay::{relay_binary, trace_path, TRACE_DIR};

impl Node {
    /// The path lightningd starts the `index`th startup plugin by: the
    /// plugin itself, or its wrapper (written now) if it has an env or is
    /// traced.
    pub(super) fn plugin_path(&self, index: usize, plugin: &PluginConf) -> Result<PathBuf> {
        if plugin.env.is_empty() && !plugin.traced {
            return Ok(plugin.path.clone());
        }
        self.write_wrapper(&self.dir.join("plugin-env").join(index.to_string()), plugin)
    }

    /// The wrapper for a plugin started with `plugin start`, one per file
    /// name (a second start of the same plugin rewrites it).
    pub(super) fn started_plugin_wrapper(&self, plugin: &PluginConf) -> Result<PathBuf> {
        self.write_wrapper(&self.dir.join("plugin-env").join("started"), plugin)
    }

    /// Writes `plugin`'s wrapper into `dir`, under the plugin's file name.
    fn write_wrapper(&self, dir: &std::path::Path, plugin: &PluginConf) -> Result<PathBuf> {
        let Some(file_name) = plugin.path.file_name() else {
            bail!(
                "{}: plugin path {} has no file name",
                self.name,
                plugin.path.display()
            );
        };
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let wrapper = dir.join(file_name);
        let relay = if plugin.traced {
            let traces = self.dir.join(TRACE_DIR);
            std::fs::create_dir_all(&traces)
                .with_context(|| format!("creating {}", traces.display()))?;
            let relay = relay_binary().with_context(|| {
                format!("{}: tracing plugin {}", self.name, plugin.path.display())
            })?;
            Some((relay, trace_path(&self.dir, &file_name.to_string_lossy())))
        } else {
            None
        };
        std::fs::write(&wrapper, script(plugin, relay.as_ref())?)
            .with_context(|| format!("writing {}", wrapper.display()))?;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", wrapper.display()))?;
        Ok(wrapper)
    }
}

/// The wrapper script for `plugin`; with `relay` (the relay program and
/// the trace file), it starts the plugin through the relay.
fn script(plugin: &PluginConf, relay: Option<&(PathBuf, PathBuf)>) -> Result<String> {
    let why = match (plugin.env.is_empty(), relay.is_some()) {
        (false, true) => "with its own environment (PluginConf::env), traced (PluginConf::traced)",
        (true, true) => "traced (PluginConf::traced)",
        _ => "with its own environment (PluginConf::env)",
    };
    let mut text = format!(
        "#!/bin/sh\n# Written by itest: {} {why}.\n",
        plugin.path.display()
    );
    for (name, value) in &plugin.env {
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            bail!(
                "plugin {}: environment variable name {name:?} is not a shell name (letters, digits, _)",
                plugin.path.display()
            );
        }
        text.push_str(&format!("export {name}={}\n", quoted(value)));
    }
    let program = quoted(&plugin.path.display().to_string());
    match relay {
        Some((relay, trace)) => text.push_str(&format!(
            "exec {} {} {program} \"$@\"\n",
            quoted(&relay.display().to_string()),
            quoted(&trace.display().to_string())
        )),
        None => text.push_str(&format!("exec {program} \"$@\"\n")),
    }
    Ok(text)
}

/// `value` in single quotes for sh, every `'` closed, escaped and reopened.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_sets_each_variable_quoted_and_execs_the_plugin() {
        let plugin = PluginConf::new("/abs/my plugin.py")
            .with_env("MODE", "it's strict")
            .with_env("EMPTY", "");
        assert_eq!(
            script(&plugin, None).unwrap(),
            "#!/bin/sh\n# Written by itest: /abs/my plugin.py with its own environment (PluginConf::env).\n\
             export MODE='it'\\''s strict'\nexport EMPTY=''\nexec '/abs/my plugin.py' \"$@\"\n"
        );
        let bad = PluginConf::new("/p").with_env("NOT-A-NAME", "x");
        assert!(script(&bad, None)
            .unwrap_err()
            .to_string()
            .contains("NOT-A-NAME"));
    }

    #[test]
    fn a_traced_plugin_is_started_by_the_relay_with_its_trace_file() {
        let plugin = PluginConf::new("/abs/p.py").traced();
        let relay = (
            PathBuf::from("/r/relay"),
            PathBuf::from("/d/plugin-trace/p.py.trace"),
        );
        assert_eq!(
            script(&plugin, Some(&relay)).unwrap(),
            "#!/bin/sh\n# Written by itest: /abs/p.py traced (PluginConf::traced).\n\
             exec '/r/relay' '/d/plugin-trace/p.py.trace' '/abs/p.py' \"$@\"\n"
        );
    }
}
