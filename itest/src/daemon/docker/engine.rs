//! The engine client, and the docker mode the engine comes to (whether its
//! containers can share this machine is `crate::probe::engine`'s, which
//! the build script shares).

use std::sync::OnceLock;

use anyhow::{Context, Result};
use testcontainers::bollard::Docker;

use crate::probe::backend::DockerMode;
pub(crate) use crate::probe::engine::EngineInfo;
use crate::probe::engine::{self as probe, not_shared};

/// The engine client for everything testcontainers does not do itself:
/// one per process (it keeps its connections), at the address
/// testcontainers uses too (`probe::engine_host`).
pub(crate) fn client() -> Result<Docker> {
    static CLIENT: OnceLock<Docker> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let host = probe::docker_host().map_err(anyhow::Error::msg)?;
    let client = Docker::connect_with_host(&host)
        .with_context(|| format!("connecting to Docker at {host}"))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

/// The engine's [`EngineInfo`], asked once per process.
pub(crate) fn info() -> Result<EngineInfo> {
    static INFO: OnceLock<Result<EngineInfo, String>> = OnceLock::new();
    INFO.get_or_init(|| probe::info(&probe::docker_host()?))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// The mode `asked` comes to for the engine this process uses: `Auto` is
/// `Host` where containers can share this machine ([`not_shared`]), else
/// `Isolated`. `Host` where they cannot is refused with the reason, except
/// on a `tcp://` engine, which may well be this machine's.
pub(crate) fn resolve_mode(asked: DockerMode) -> Result<DockerMode> {
    if asked == DockerMode::Isolated {
        return Ok(asked);
    }
    let located = probe::located().map_err(anyhow::Error::msg)?;
    let why = not_shared(&located, &info()?, cfg!(target_os = "linux"));
    Ok(match (asked, why) {
        (DockerMode::Auto, None) => DockerMode::Host,
        (DockerMode::Auto, Some(_)) => DockerMode::Isolated,
        (_, Some(why)) if !located.is_tcp() => anyhow::bail!(
            "Conf::docker_mode is host (ITEST_DOCKER_MODE=host), but {why}: use isolated or auto"
        ),
        (mode, _) => mode,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;
    use std::path::Path;
    use std::process::Command;

    use crate::daemon::docker::runtime;

    /// Set in the child copy of this test binary: it prints where the
    /// probe locates the engine, then pings through testcontainers' own
    /// client.
    const CHILD: &str = "ITEST_ENGINE_AGREEMENT_CHILD";

    /// A fake engine on a unix socket: answers `/_ping` and reports each
    /// request on `seen` with its own `name`.
    fn fake_engine(path: &Path, name: &'static str, seen: std::sync::mpsc::Sender<&'static str>) {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = seen.send(name);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK",
                );
            }
        });
    }

    /// The child role: the probe's answer, then a ping by testcontainers.
    fn child_role() -> bool {
        if std::env::var_os(CHILD).is_none() {
            return false;
        }
        let located = crate::probe::engine_host::locate(&crate::probe::engine_host::ThisMachine);
        println!("probe {}", located.map(|l| l.host).unwrap_or_else(|e| e));
        let pinged = runtime::block_on(async {
            let docker = testcontainers::core::client::docker_client_instance().await?;
            anyhow::Ok(docker.ping().await?)
        })
        .and_then(|r| r);
        println!("testcontainers {pinged:?}");
        true
    }

    #[test]
    fn the_probe_and_testcontainers_pick_the_same_engine() {
        if child_role() {
            return;
        }
        // Where each setting points: tc.host, DOCKER_HOST, docker.host; in
        // the properties file, `\:` is an escaped `:`.
        type Case = (fn(&str) -> String, bool, &'static str);
        let cases: [Case; 3] = [
            (
                |d| format!("tc.host=unix\\://{d}/tc.sock\ndocker.host=unix://{d}/prop.sock\n"),
                true,
                "tc",
            ),
            (
                |d| format!("docker.host=unix://{d}/prop.sock\n"),
                true,
                "env",
            ),
            (
                |d| format!("# only the file\ndocker.host : unix\\://{d}/prop.sock\n"),
                false,
                "prop",
            ),
        ];
        for (properties, env, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let shown = dir.path().display().to_string();
            let (tx, rx) = std::sync::mpsc::channel();
            for name in ["tc", "env", "prop"] {
                let socket = dir.path().join(format!("{name}.sock"));
                fake_engine(&socket, name, tx.clone());
            }
            let home = dir.path().join("home");
            std::fs::create_dir(&home).unwrap();
            std::fs::write(home.join(".testcontainers.properties"), properties(&shown)).unwrap();
            let mut child = Command::new(std::env::current_exe().unwrap());
            child
                .args(["--exact", "daemon::docker::engine::tests::the_probe_and_testcontainers_pick_the_same_engine", "--nocapture"])
                .env(CHILD, "1")
                .env("HOME", &home)
                .env_remove("DOCKER_HOST")
                .env_remove("DOCKER_TLS_VERIFY")
                .env_remove("XDG_RUNTIME_DIR");
            if env {
                child.env("DOCKER_HOST", format!("unix://{shown}/env.sock"));
            }
            let out = child.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let probe = stdout
                .lines()
                .find_map(|l| l.strip_prefix("probe "))
                .unwrap_or_else(|| panic!("the child printed no probe line: {stdout}"));
            assert_eq!(probe, format!("unix://{shown}/{want}.sock"), "{stdout}");
            assert!(stdout.contains("testcontainers Ok(\"OK\")"), "{stdout}");
            let hit = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("testcontainers asked no fake engine");
            assert_eq!(
                hit, want,
                "testcontainers went elsewhere than the probe: {stdout}"
            );
        }
    }
}
