//! Containers that share this machine ([`Sharing::Host`]): host
//! networking, so a daemon binds the loopback ports the harness reserved
//! as a native one does; bind mounts at the same absolute paths, so file
//! names in arguments, unix sockets and logs are the same inside and out;
//! the host user's uid:gid, so whatever it writes the test can delete.
//!
//! [`Sharing::Host`]: super::spec::Sharing::Host

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use testcontainers::core::Mount;
use testcontainers::{ContainerRequest, GenericImage, ImageExt};

use super::spec::ContainerSpec;

/// The request for `spec`, seeing `mounts`. Every mount must exist here.
pub(crate) fn request(
    spec: &ContainerSpec,
    mounts: &[PathBuf],
) -> Result<ContainerRequest<GenericImage>> {
    let mut request = GenericImage::new(spec.image.name(), spec.image.tag())
        .with_entrypoint(&spec.entrypoint)
        .with_cmd(spec.args.clone())
        .with_network("host")
        .with_user(host_user())
        .with_host_config_modifier(|host| host.init = Some(true));
    for path in mounts {
        if !path.is_absolute() {
            return Err(anyhow!(
                "{}: mount {} is not an absolute path",
                spec.name,
                path.display()
            ));
        }
        if !path.exists() {
            return Err(anyhow!(
                "{}: cannot mount {} into the container: it does not exist on the host",
                spec.name,
                path.display()
            ));
        }
        let p = path.display().to_string();
        request = request.with_mount(Mount::bind_mount(p.clone(), p));
    }
    Ok(request)
}

/// The mounts to give a container: existing absolute paths, each once,
/// none inside another (a parent mount already shows it).
pub(crate) fn visible_mounts(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| p.is_absolute() && p.exists())
        .collect();
    paths.sort();
    paths.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for path in paths {
        if !kept.iter().any(|k| path.starts_with(k)) {
            kept.push(path);
        }
    }
    kept
}

/// Whether `path` lies under one of `mounts`, i.e. the container sees it
/// at the same path.
pub(crate) fn is_visible(path: &Path, mounts: &[PathBuf]) -> bool {
    path.is_absolute() && mounts.iter().any(|m| path.starts_with(m))
}

/// `Ok` if daemon `who` (in a container seeing `mounts`) sees `path` of
/// this machine, else why not and what to do. A path that exists nowhere
/// passes, so that the daemon answers for it as it would natively.
pub(crate) fn check_visible(path: &Path, mounts: &[PathBuf], who: &str) -> Result<(), String> {
    if !path.exists() || is_visible(path, mounts) {
        return Ok(());
    }
    let shown: Vec<String> = mounts.iter().map(|m| m.display().to_string()).collect();
    Err(format!(
        "{who} runs in a container, which cannot see {}: it sees only {}. Bind mounts are fixed when the container starts: add the plugin's directory to Conf::container_mounts, name the plugin in NodeConf::plugins, or use Conf::docker_mode = DockerMode::Isolated, which copies files in",
        path.display(),
        shown.join(", ")
    ))
}

/// The host user as `uid:gid`, which containers sharing this machine run
/// as.
pub(crate) fn host_user() -> String {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    format!("{uid}:{gid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_missing_mounts_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a");
        std::fs::create_dir(&inner).unwrap();
        let kept = visible_mounts(vec![
            inner.clone(),
            dir.path().to_path_buf(),
            PathBuf::from("/nonexistent/x"),
            PathBuf::from("relative"),
            dir.path().to_path_buf(),
        ]);
        assert_eq!(kept, vec![dir.path().to_path_buf()]);
        assert!(is_visible(&inner.join("plugin"), &kept));
        assert!(!is_visible(Path::new("/elsewhere/plugin"), &kept));
        assert!(!is_visible(Path::new("relative/plugin"), &kept));
    }

    #[test]
    fn an_invisible_plugin_is_refused_with_the_mounts_and_the_fixes() {
        let seen = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new_in("/var/tmp").unwrap();
        let mounts = vec![seen.path().to_path_buf()];
        let err = check_visible(outside.path(), &mounts, "l1").unwrap_err();
        for part in [
            "l1 runs in a container",
            "cannot see",
            "Conf::container_mounts",
            "DockerMode::Isolated",
        ] {
            assert!(err.contains(part), "{part:?} missing: {err}");
        }
        assert!(err.contains(&seen.path().display().to_string()), "{err}");
        check_visible(Path::new("/no/such/plugin"), &mounts, "l1").unwrap();
    }
}
