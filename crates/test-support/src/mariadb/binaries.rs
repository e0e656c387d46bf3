//! Where the MariaDB binaries are, and the OS user the server runs as: `mariadbd`
//! refuses to run as root, so when the tests run as root it is started with
//! `--user=mysql` inside a directory owned by the `mysql` OS user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::files::is_executable;
use crate::process::{chown_to, os_user_ids, running_as_root};

/// How to get the MariaDB binaries when they are missing.
pub const MARIADB_INSTALL_HINT: &str =
    "install it with: apt-get install mariadb-server mariadb-client (or run scripts/install-deps.sh)";

/// Full path of a MariaDB binary (`mariadbd`, `mariadb-install-db`,
/// `mariadb`, ...): `$SLUICE_MARIADB_BINDIR`, `/usr/sbin`, `/usr/bin`, then
/// `PATH`.
///
/// Panics with installation instructions when it cannot be found.
pub fn mariadb_bin(name: &str) -> PathBuf {
    let dirs = mariadb_bindir_candidates();
    if let Some(path) = dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)) {
        return path;
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    panic!(
        "MariaDB binary `{name}` not found (looked in: {}). The tests need MariaDB 10.11: \
         {MARIADB_INSTALL_HINT}",
        looked.join(", ")
    );
}

fn mariadb_bindir_candidates() -> &'static [PathBuf] {
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let mut dirs = Vec::new();
        if let Some(dir) = std::env::var_os("SLUICE_MARIADB_BINDIR") {
            if !dir.is_empty() {
                dirs.push(PathBuf::from(dir));
            }
        }
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
            dirs.push(PathBuf::from(dir));
        }
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()));
        }
        let mut seen = Vec::new();
        dirs.retain(|d| {
            let new = !seen.contains(d);
            seen.push(d.clone());
            new
        });
        dirs
    })
}

/// uid and gid of the `mysql` OS user, if it exists.
fn mysql_os_user() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| os_user_ids("mysql"))
}

pub(super) fn required_mysql_os_user() -> (u32, u32) {
    mysql_os_user().unwrap_or_else(|| {
        panic!(
            "the tests run as root, so MariaDB has to run as the `mysql` OS user, which does \
             not exist; it is created by the mariadb-server package: {MARIADB_INSTALL_HINT}"
        )
    })
}

/// Gives a file or directory to the `mysql` OS user when we are root.
pub(super) fn give_to_mysql(path: &Path) {
    if running_as_root() {
        chown_to(path, "mysql", required_mysql_os_user());
    }
}

/// Removes client environment variables (`MYSQL_PWD`, `MYSQL_HOST`,
/// `MYSQL_TCP_PORT`, ...) that could redirect a command to another server.
pub(super) fn clean_mysql_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("MYSQL") || key_str.starts_with("MARIADB") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LC_ALL", "C");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "apt-get install mariadb-server mariadb-client")]
    fn missing_binary_panics_with_install_hint() {
        mariadb_bin("no-such-mariadb-tool");
    }
}
