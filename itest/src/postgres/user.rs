//! Who runs PostgreSQL's programs.
//!
//! `initdb` and `postgres` refuse to run as root ("cannot be run as
//! root"), and CI jobs and containers often are root. There the harness
//! runs them as the `postgres` account (which distributions' packages
//! create), else as `nobody`, and hands that account the server's
//! directory. Anyone else runs them as themselves.

use std::ffi::CString;
use std::path::Path;

use crate::error::{bail, Context, Result};

/// An account to run the server programs as, instead of this process's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// `None` unless this process is root; then the account to use.
pub(crate) fn server_user() -> Result<Option<RunAs>> {
    // SAFETY: a plain syscall without arguments.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some(user) = lookup(name)? {
            return Ok(Some(user));
        }
    }
    bail!(
        "PostgreSQL's server refuses to run as root, and this machine has neither a `postgres` nor a `nobody` account to run it as: create one (useradd --system postgres), or run the tests as another user"
    )
}

/// The account `name`, if it exists.
fn lookup(name: &str) -> Result<Option<RunAs>> {
    let c_name = CString::new(name).context("an account name with a NUL byte")?;
    // SAFETY: `passwd` is plain data; getpwnam_r fills it, pointing its
    // strings into `buf`, which outlives every read below.
    let mut passwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut passwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 {
        bail!(
            "looking up the account {name}: {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
    Ok((!found.is_null()).then(|| RunAs {
        name: name.to_string(),
        uid: passwd.pw_uid,
        gid: passwd.pw_gid,
    }))
}

/// Lets `user` (if any) own `dir` and pass through `through` (the
/// network's directory, which the harness created private): the server
/// needs its data directory to itself.
pub(crate) fn hand_over(user: Option<&RunAs>, dir: &Path, through: &Path) -> Result<()> {
    let Some(user) = user else {
        return Ok(());
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(through)
        .with_context(|| format!("reading {}", through.display()))?
        .permissions()
        .mode();
    // Search only (o+x): the account can reach the paths it is given,
    // not list the network's files.
    std::fs::set_permissions(through, std::fs::Permissions::from_mode(mode | 0o001))
        .with_context(|| format!("letting {} through {}", user.name, through.display()))?;
    std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid)).with_context(|| {
        format!(
            "handing {} to {} (uid {}), who runs PostgreSQL",
            dir.display(),
            user.name,
            user.uid
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_gets_an_unprivileged_account_and_others_run_as_themselves() {
        let user = server_user().unwrap();
        // SAFETY: a plain syscall.
        if unsafe { libc::geteuid() } == 0 {
            let user = user.expect("root runs the server as another account");
            assert_ne!(user.uid, 0, "{user:?}");
        } else {
            assert_eq!(user, None);
        }
        assert_eq!(lookup("no-such-account-itest").unwrap(), None);
    }
}
