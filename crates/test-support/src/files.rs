//! Files of the test servers: the temporary directory each one lives in (kept for a
//! closer look when asked to), file modes, executables, and reading a server log.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::process::shell_quote;

/// A new temporary directory named `<prefix>…` in `$SLUICE_TEST_TMPDIR`, `/tmp` or
/// the system's temporary directory.
pub(crate) fn make_tempdir(prefix: &str) -> TempDir {
    let base = match std::env::var_os("SLUICE_TEST_TMPDIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ if Path::new("/tmp").is_dir() => PathBuf::from("/tmp"),
        _ => std::env::temp_dir(),
    };
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .unwrap_or_else(|e| {
            panic!(
                "cannot create a temporary directory in {}: {e}",
                base.display()
            )
        })
}

/// Removes a server's directory, or keeps it and prints its path when environment
/// variable `keep_var` is set; `what` names the server in that message.
pub(crate) fn remove_unless_kept(tmp: Option<TempDir>, keep_var: &str, what: &str) {
    if let Some(tmp) = tmp {
        if std::env::var_os(keep_var).is_some() {
            let path = tmp.keep();
            eprintln!("keeping {what} directory {}", path.display());
        } else {
            drop(tmp);
        }
    }
}

/// The shell command a watchdog runs to remove a server's directory: nothing when
/// environment variable `keep_var` is set.
pub(crate) fn removal_script(dir: &Path, keep_var: &str) -> String {
    if std::env::var_os(keep_var).is_some() {
        String::new()
    } else {
        format!("rm -rf {}", shell_quote(&dir.to_string_lossy()))
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

pub(crate) fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A server log as text, empty when it cannot be read.
pub(crate) fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// When the test is failing, prints the end of a server's log: `what` names the
/// server, `at` says where it listened.
pub(crate) fn show_log_if_panicking(what: &str, at: &str, log_path: &Path) {
    if std::thread::panicking() {
        eprintln!(
            "--- {what} log ({at}, {}) ---\n{}",
            log_path.display(),
            tail(&read_log(log_path), 60)
        );
    }
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
