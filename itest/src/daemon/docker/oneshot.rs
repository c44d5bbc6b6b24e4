//! Running a program once in a throw-away container and reading what it
//! printed (`lightningd --version`, `--help`): no network, no files, so it
//! works the same on every engine.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use super::host::host_user;
use super::image::{start_error_text, ImageRef};
use super::{engine, runtime};

/// Runs `entrypoint args` in a throw-away container from `image` and
/// returns what it printed (stdout, then stderr) once it exits, e.g.
/// `lightningd --version`.
pub fn output(
    image: &ImageRef,
    entrypoint: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<String> {
    let request = GenericImage::new(image.name(), image.tag())
        .with_entrypoint(entrypoint)
        .with_cmd(args.iter().map(|a| a.to_string()))
        .with_network("none")
        .with_user(host_user())
        .with_env_var("HOME", "/tmp");
    let shown = format!("{entrypoint} {}", args.join(" "));
    let spec_name = format!("`{shown}` in {image}");
    runtime::block_on(async {
        let handle = request
            .start()
            .await
            .map_err(|e| start_error_text(&spec_name, image, &e))?;
        let docker = engine::client()?;
        let deadline = Instant::now() + timeout;
        loop {
            let state = docker.inspect_container(handle.id(), None).await?.state;
            if state.and_then(|s| s.running) != Some(true) {
                break;
            }
            if Instant::now() >= deadline {
                let _ = handle.rm().await;
                return Err(anyhow!(
                    "{spec_name} did not exit within {}s",
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut text = String::from_utf8_lossy(&handle.stdout_to_vec().await?).into_owned();
        text.push_str(&String::from_utf8_lossy(&handle.stderr_to_vec().await?));
        let _ = handle.rm().await;
        anyhow::Ok(text)
    })?
}
