//! Startup plugins with an environment of their own
//! ([`PluginConf::env`]).
//!
//! lightningd starts every plugin with its own environment, so a plugin
//! that needs other variables is started through a `/bin/sh` script that
//! sets them and `exec`s the plugin. The script has the plugin's file name,
//! so lightningd names the plugin, and logs it, exactly as without it. It
//! lies in the node's directory, which containers see too.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::Node;
use crate::conf::PluginConf;
use crate::error::{bail, Context, Result};

impl Node {
    /// The path lightningd starts the `index`th startup plugin by: the
    /// plugin itself, or its wrapper (written now) if it has an env.
    pub(super) fn plugin_path(&self, index: usize, plugin: &PluginConf) -> Result<PathBuf> {
        if plugin.env.is_empty() {
            return Ok(plugin.path.clone());
        }
        let Some(file_name) = plugin.path.file_name() else {
            bail!(
                "{}: plugin path {} has no file name",
                self.name,
                plugin.path.display()
            );
        };
        let dir = self.dir.join("plugin-env").join(index.to_string());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let wrapper = dir.join(file_name);
        std::fs::write(&wrapper, script(plugin)?)
            .with_context(|| format!("writing {}", wrapper.display()))?;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", wrapper.display()))?;
        Ok(wrapper)
    }
}

/// The wrapper script for `plugin`.
fn script(plugin: &PluginConf) -> Result<String> {
    let mut text = format!(
        "#!/bin/sh\n# Written by itest: {} with its own environment (PluginConf::env).\n",
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
    text.push_str(&format!(
        "exec {} \"$@\"\n",
        quoted(&plugin.path.display().to_string())
    ));
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
            script(&plugin).unwrap(),
            "#!/bin/sh\n# Written by itest: /abs/my plugin.py with its own environment (PluginConf::env).\n\
             export MODE='it'\\''s strict'\nexport EMPTY=''\nexec '/abs/my plugin.py' \"$@\"\n"
        );
        let bad = PluginConf::new("/p").with_env("NOT-A-NAME", "x");
        assert!(script(&bad).unwrap_err().to_string().contains("NOT-A-NAME"));
    }
}
