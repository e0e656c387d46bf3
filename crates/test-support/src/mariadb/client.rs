//! The `mariadb` command line client, through which the helpers and the tests talk
//! to a MariaDB server (so everything here is synchronous), and the quoting of
//! literals and identifiers in the SQL they send.

use std::path::Path;
use std::process::{Command, Stdio};

use super::binaries::{clean_mysql_env, mariadb_bin};

/// `--connect-timeout` of client calls, so that they do not hang for long
/// when a server is paused.
const CLIENT_CONNECT_TIMEOUT: &str = "10";

/// Quotes a MariaDB string literal: `it's` becomes `'it''s'` (backslashes
/// are doubled too, as the default SQL mode treats them as escapes).
pub fn quote_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// Quotes a MariaDB identifier: ``a`b`` becomes ``` `a``b` ```.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

// ---------------------------------------------------------------------------
// The command line client
// ---------------------------------------------------------------------------

/// Where and as whom the `mariadb` client connects.
pub(super) enum Target<'a> {
    Tcp { host: &'a str, port: u16 },
    Socket(&'a Path),
}

pub(super) fn client_command(
    target: &Target<'_>,
    user: &str,
    password: &str,
    db: Option<&str>,
) -> Command {
    let mut cmd = Command::new(mariadb_bin("mariadb"));
    clean_mysql_env(&mut cmd);
    // --no-defaults must come first; it keeps ~/.my.cnf and /etc/mysql out.
    cmd.arg("--no-defaults");
    match target {
        Target::Tcp { host, port } => {
            cmd.arg("--protocol=TCP")
                .arg(format!("--host={host}"))
                .arg(format!("--port={port}"));
        }
        Target::Socket(path) => {
            cmd.arg("--protocol=SOCKET")
                .arg(format!("--socket={}", path.display()));
        }
    }
    cmd.arg(format!("--user={user}"))
        .arg(format!("--password={password}"))
        .arg(format!("--connect-timeout={CLIENT_CONNECT_TIMEOUT}"))
        .arg("--batch");
    if let Some(db) = db {
        cmd.arg(format!("--database={db}"));
    }
    cmd.stdin(Stdio::null());
    cmd
}

pub(super) fn run_client(mut cmd: Command, sql: &str) -> Result<String, String> {
    cmd.arg("--skip-column-names").arg("--execute").arg(sql);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "mariadb exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `sql` with the `mariadb` client over TCP as `user` (with
/// `--batch --skip-column-names`: one line per row, columns separated by
/// tabs) and returns the trimmed output, or the client's error output (for
/// example `ERROR 1290 (HY000) at line 1: ...`) on failure. `database` is
/// the default database of the session.
pub fn run_mariadb(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    database: Option<&str>,
    sql: &str,
) -> Result<String, String> {
    run_client(
        client_command(&Target::Tcp { host, port }, user, password, database),
        sql,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_string("it's"), "'it''s'");
        assert_eq!(quote_string("a\\b"), "'a\\\\b'");
        assert_eq!(quote_ident("a`b"), "`a``b`");
    }
}
