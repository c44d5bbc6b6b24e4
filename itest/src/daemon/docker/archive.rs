//! Files into and out of a container that shares no paths with this
//! machine, through the engine's archive API (tar streams), and the check
//! that an executable copied in can run there at all.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

/// A tar archive, to unpack at `/`, holding each of `files` at its own
/// absolute path (content and permission bits; a symlink is followed),
/// with every parent directory as an entry of its own.
pub(crate) fn files(files: &[PathBuf]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = BTreeSet::new();
    for file in files {
        for parent in file.ancestors().skip(1) {
            if parent != Path::new("/") && !parent.as_os_str().is_empty() {
                dirs.insert(parent.to_path_buf());
            }
        }
    }
    // Parents first (a BTreeSet of paths sorts them so).
    for dir in &dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder
            .append_data(&mut header, relative(dir)?, std::io::empty())
            .with_context(|| format!("archiving directory {}", dir.display()))?;
    }
    for file in files {
        let meta =
            std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(meta.len());
        header.set_mode(meta.permissions().mode() & 0o7777);
        let content =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        builder
            .append_data(&mut header, relative(file)?, content)
            .with_context(|| format!("archiving {}", file.display()))?;
    }
    builder.into_inner().context("finishing the archive")
}

/// The most a script's directory may hold to be copied with it.
const COMPANIONS_MAX_FILES: usize = 1000;
const COMPANIONS_MAX_BYTES: u64 = 64 << 20;

/// What to copy into a container for the program at `path`: a compiled
/// program alone, but a script (`#!`) with the files of its directory
/// tree, which it may load beside itself (a Python plugin importing a
/// module next to it). Hidden directories and `__pycache__` are left out,
/// and so is the rest of a directory too big to be a script's (over 1000
/// files or 64 MiB): then the script goes alone.
pub(crate) fn with_companions(path: &Path) -> Vec<PathBuf> {
    let alone = vec![path.to_path_buf()];
    let mut head = [0u8; 2];
    let is_script = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"#!";
    let Some(dir) = path.parent().filter(|_| is_script) else {
        return alone;
    };
    let mut found = Vec::new();
    let mut bytes = 0u64;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = std::fs::metadata(entry.path()) else {
                continue;
            };
            if meta.is_dir() {
                if !name.starts_with('.') && name != "__pycache__" {
                    pending.push(entry.path());
                }
            } else if meta.is_file() {
                bytes += meta.len();
                found.push(entry.path());
                if found.len() > COMPANIONS_MAX_FILES || bytes > COMPANIONS_MAX_BYTES {
                    return alone;
                }
            }
        }
    }
    if !found.iter().any(|f| f == path) {
        found.push(path.to_path_buf());
    }
    found.sort();
    found
}

/// `path` without its leading `/`, as tar entries name it.
fn relative(path: &Path) -> Result<PathBuf> {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir))
        .collect();
    anyhow::ensure!(
        path.is_absolute() && !rel.as_os_str().is_empty(),
        "{} is not an absolute file path",
        path.display()
    );
    Ok(rel)
}

/// Unpacks `archive`, the engine's tar of one directory (its entries start
/// with that directory's name), into `dest`: directories and regular files
/// only, files replaced. A socket at `dest` (the forwarded RPC socket) is
/// never replaced. Returns how many files were written.
pub(crate) fn unpack_dir(archive: &[u8], dest: &Path) -> Result<usize> {
    let mut written = 0;
    let mut entries = tar::Archive::new(archive);
    for entry in entries.entries().context("reading the archive")? {
        let mut entry = entry.context("reading an archive entry")?;
        let path = entry
            .path()
            .context("an archive entry's path")?
            .into_owned();
        // Strip the directory's own name; refuse anything climbing out.
        let inner: PathBuf = path.components().skip(1).collect();
        if inner
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            continue;
        }
        let target = dest.join(&inner);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target)
                    .with_context(|| format!("creating {}", target.display()))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_socket()) {
                    continue;
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let mut content = Vec::new();
                entry
                    .read_to_end(&mut content)
                    .with_context(|| format!("reading {} from the archive", path.display()))?;
                let _ = std::fs::remove_file(&target);
                std::fs::write(&target, content)
                    .with_context(|| format!("writing {}", target.display()))?;
                let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
                let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode));
                written += 1;
            }
            // Symlinks, devices, fifos: nothing the checks read.
            _ => {}
        }
    }
    Ok(written)
}

/// `Ok` unless the file at `path` is a program that cannot run on an
/// engine whose containers are `os`/`arch` (as `/info` names them): an ELF
/// binary for another machine, or a macOS (Mach-O) or Windows (PE) one.
/// Scripts and anything unrecognised pass: the daemon says what it thinks.
pub(crate) fn check_runs_on(path: &Path, os: &str, arch: &str) -> Result<(), String> {
    let mut head = [0u8; 20];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..read];
    let shown = path.display();
    let engine = format!("the engine's containers run {os}/{arch}");
    let cannot = |what: &str| {
        Err(format!(
            "{shown} is {what}, which cannot run in a container: {engine}. Build it for that target (e.g. cargo build --target {arch}-unknown-linux-gnu), or run lightningd natively (Conf::lightningd_backend)"
        ))
    };
    let macho: [[u8; 4]; 5] = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
        [0xca, 0xfe, 0xba, 0xbe],
    ];
    if head.len() >= 4 && macho.iter().any(|m| head[..4] == *m) {
        return cannot("a macOS (Mach-O) program");
    }
    if head.starts_with(b"MZ") {
        return cannot("a Windows program");
    }
    if head.len() >= 20 && head.starts_with(b"\x7fELF") {
        if os != "linux" {
            return cannot("a Linux (ELF) program");
        }
        let machine = if head[5] == 2 {
            u16::from_be_bytes([head[18], head[19]])
        } else {
            u16::from_le_bytes([head[18], head[19]])
        };
        if let Some(expected) = elf_machine(arch) {
            if machine != expected {
                let what = format!(
                    "an ELF program for {}",
                    elf_name(machine).unwrap_or("another machine")
                );
                return cannot(&what);
            }
        }
    }
    Ok(())
}

/// The ELF `e_machine` of a kernel architecture name.
fn elf_machine(arch: &str) -> Option<u16> {
    Some(match arch {
        "x86_64" | "amd64" => 62,
        "aarch64" | "arm64" => 183,
        "armv7l" | "armv6l" | "arm" => 40,
        "riscv64" => 243,
        "ppc64le" | "ppc64" => 21,
        "s390x" => 22,
        "i686" | "i386" | "x86" => 3,
        _ => return None,
    })
}

fn elf_name(machine: u16) -> Option<&'static str> {
    Some(match machine {
        62 => "x86_64",
        183 => "aarch64",
        40 => "arm",
        243 => "riscv64",
        21 => "ppc64",
        22 => "s390x",
        3 => "i386",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_keep_their_paths_and_modes_and_unpack_back() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("bin/tool");
        let data = dir.path().join("data.txt");
        std::fs::create_dir_all(tool.parent().unwrap()).unwrap();
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(&data, "x").unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o644)).unwrap();
        let archive = files(&[tool.clone(), data.clone()]).unwrap();
        let mut seen = Vec::new();
        for entry in tar::Archive::new(&archive[..]).entries().unwrap() {
            let entry = entry.unwrap();
            seen.push((
                PathBuf::from("/").join(entry.path().unwrap()),
                entry.header().mode().unwrap() & 0o777,
                entry.header().entry_type().is_dir(),
            ));
        }
        assert!(seen.contains(&(tool.clone(), 0o755, false)), "{seen:?}");
        assert!(seen.contains(&(data.clone(), 0o644, false)), "{seen:?}");
        // Every parent, before its children.
        let parent = seen
            .iter()
            .position(|(p, _, d)| *d && p == tool.parent().unwrap())
            .expect("the parent directory is an entry");
        let child = seen.iter().position(|(p, _, _)| *p == tool).unwrap();
        assert!(parent < child);
    }

    #[test]
    fn a_fetched_directory_replaces_files_but_never_a_socket() {
        // What the engine sends for `GET /archive?path=/x/l1`: entries
        // under `l1/`.
        let mut builder = tar::Builder::new(Vec::new());
        for (name, body) in [
            ("l1/regtest/crash.log.1", "boom"),
            ("l1/regtest/lightning-rpc", "no"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o600);
            builder
                .append_data(&mut header, name, body.as_bytes())
                .unwrap();
        }
        let archive = builder.into_inner().unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dest.path().join("regtest")).unwrap();
        let socket = dest.path().join("regtest/lightning-rpc");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert_eq!(unpack_dir(&archive, dest.path()).unwrap(), 1);
        let crash = std::fs::read_to_string(dest.path().join("regtest/crash.log.1")).unwrap();
        assert_eq!(crash, "boom");
        let kept = std::fs::symlink_metadata(&socket).unwrap();
        assert!(kept.file_type().is_socket());
    }

    #[test]
    fn a_script_brings_its_directory_and_a_binary_comes_alone() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("plugin.py");
        std::fs::write(&script, "#!/usr/bin/env python3\nimport helper\n").unwrap();
        std::fs::write(dir.path().join("helper.py"), "X = 1\n").unwrap();
        std::fs::create_dir_all(dir.path().join("lib/__pycache__")).unwrap();
        std::fs::write(dir.path().join("lib/mod.py"), "").unwrap();
        std::fs::write(dir.path().join("lib/__pycache__/mod.pyc"), "").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "").unwrap();
        let binary = dir.path().join("plugin");
        std::fs::write(&binary, b"\x7fELF\x02\x01\x01").unwrap();
        let copied = with_companions(&script);
        let names: Vec<_> = copied
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["helper.py", "lib/mod.py", "plugin", "plugin.py"]);
        assert_eq!(with_companions(&binary), vec![binary.clone()]);
    }

    #[test]
    fn programs_for_another_machine_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let mut elf_arm = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0".to_vec();
        elf_arm.extend_from_slice(&183u16.to_le_bytes());
        let mut elf_x86 = elf_arm.clone();
        elf_x86[18..20].copy_from_slice(&62u16.to_le_bytes());
        let macho = write("mac", &[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]);
        let arm = write("arm", &elf_arm);
        let x86 = write("x86", &elf_x86);
        let script = write("script.py", b"#!/usr/bin/env python3\n");

        let err = check_runs_on(&macho, "linux", "x86_64").unwrap_err();
        assert!(
            err.contains("macOS") && err.contains("linux/x86_64"),
            "{err}"
        );
        let err = check_runs_on(&arm, "linux", "x86_64").unwrap_err();
        assert!(err.contains("aarch64"), "{err}");
        check_runs_on(&arm, "linux", "aarch64").unwrap();
        check_runs_on(&x86, "linux", "x86_64").unwrap();
        check_runs_on(&script, "linux", "x86_64").unwrap();
        assert!(check_runs_on(&x86, "windows", "x86_64").is_err());
    }
}
