//! Where the PostgreSQL 15 binaries are, and running them as the right OS user:
//! `initdb` and `postgres` refuse to run as root, so when the tests run as root the
//! server binaries are started as the `postgres` OS user through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::files::is_executable;
use crate::process::{chown_to, os_user_ids, running_as_root};

/// How to get the PostgreSQL binaries when they are missing.
pub const INSTALL_HINT: &str =
    "install them with `apt-get install -y postgresql-15 postgresql-client-15` \
     (or run scripts/install-deps.sh)";

const DEFAULT_BINDIR: &str = "/usr/lib/postgresql/15/bin";

/// Full path of a PostgreSQL binary (`initdb`, `pg_ctl`, `psql`, `pgbench`, ...).
///
/// Panics with installation instructions when it cannot be found.
pub fn pg_bin(name: &str) -> PathBuf {
    for dir in bindir_candidates() {
        let path = dir.join(name);
        if is_executable(&path) {
            return path;
        }
    }
    let looked: Vec<String> = bindir_candidates()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    panic!(
        "PostgreSQL binary `{name}` not found (looked in: {}). The tests need PostgreSQL 15: {INSTALL_HINT}",
        if looked.is_empty() {
            "nothing".to_string()
        } else {
            looked.join(", ")
        }
    );
}

/// Path of the `psql` binary.
pub fn psql_bin() -> PathBuf {
    pg_bin("psql")
}

/// Path of the `pgbench` binary.
pub fn pgbench_bin() -> PathBuf {
    pg_bin("pgbench")
}

pub(crate) fn bindir_candidates() -> &'static [PathBuf] {
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let mut dirs = Vec::new();
        if let Some(dir) = std::env::var_os("SLUICE_PG_BINDIR") {
            if !dir.is_empty() {
                dirs.push(PathBuf::from(dir));
            }
        }
        if let Ok(out) = Command::new("pg_config")
            .arg("--bindir")
            .stdin(Stdio::null())
            .output()
        {
            if out.status.success() {
                let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !dir.is_empty() {
                    dirs.push(PathBuf::from(dir));
                }
            }
        }
        dirs.push(PathBuf::from(DEFAULT_BINDIR));
        dirs.dedup();
        dirs
    })
}

/// uid and gid of the `postgres` OS user, if it exists.
pub(crate) fn postgres_os_user() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| os_user_ids("postgres"))
}

pub(crate) fn required_postgres_os_user() -> (u32, u32) {
    postgres_os_user().unwrap_or_else(|| {
        panic!(
            "the tests run as root, so PostgreSQL has to run as the `postgres` OS user, \
             which does not exist; it is created by the PostgreSQL packages: {INSTALL_HINT}"
        )
    })
}

pub(crate) fn runuser_bin() -> PathBuf {
    for candidate in ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"] {
        let path = PathBuf::from(candidate);
        if is_executable(&path) {
            return path;
        }
    }
    PathBuf::from("runuser")
}

/// A command that runs `bin` as the `postgres` OS user when we are root, or
/// as ourselves otherwise.
pub(crate) fn server_command(bin: &Path, cwd: &Path) -> Command {
    let mut cmd = if running_as_root() {
        required_postgres_os_user();
        let mut cmd = Command::new(runuser_bin());
        cmd.arg("-u").arg("postgres").arg("--").arg(bin);
        cmd
    } else {
        Command::new(bin)
    };
    clean_pg_env(&mut cmd);
    cmd.current_dir(cwd).stdin(Stdio::null());
    cmd
}

/// Removes libpq/PostgreSQL environment variables that could redirect a
/// command to another server or data directory.
pub(crate) fn clean_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LC_MESSAGES", "C");
}

/// Gives a file or directory to the `postgres` OS user when we are root.
pub(crate) fn give_to_postgres(path: &Path) {
    if running_as_root() {
        chown_to(path, "postgres", required_postgres_os_user());
    }
}
