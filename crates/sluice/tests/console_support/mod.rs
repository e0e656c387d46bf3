//! What the console tests share: the users file with an admin and a stats user,
//! psql runs against the console, reading its result sets, and a sluice with a
//! MySQL route beside the PostgreSQL one.

use std::process::Command;

use crate::common::*;
use crate::mysql_support;
use test_support::pg_bin;

pub const ADMIN: &str = "ops";
pub const ADMIN_PASSWORD: &str = "ops-secret";
pub const STATS: &str = "watcher";
pub const STATS_PASSWORD: &str = "watcher-secret";

pub fn users_file(extra: &str) -> String {
    format!(
        "[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n\
         [users.{ADMIN}]\npassword = \"{ADMIN_PASSWORD}\"\nadmin = true\n\
         [users.{STATS}]\npassword = \"{STATS_PASSWORD}\"\nstats = true\n{extra}"
    )
}

pub fn start(pg: &test_support::PgServer) -> Sluice {
    Sluice::start(
        pg,
        SluiceOptions {
            users: users_file(""),
            ..Default::default()
        },
    )
}

/// Runs `sql` in psql (unaligned, comma-separated, with the header line, without
/// the row count); the output lines, or psql's error output.
pub fn psql(
    sluice: &Sluice,
    user: &str,
    password: &str,
    db: &str,
    sql: &str,
) -> Result<Vec<String>, String> {
    let out = Command::new(pg_bin("psql"))
        .args([
            "-X",
            "-A",
            "-F,",
            "-P",
            "footer=off",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(["-h", "127.0.0.1", "-p", &sluice.port.to_string()])
        .args(["-U", user, "-d", db, "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn admin(sluice: &Sluice, sql: &str) -> Vec<String> {
    psql(sluice, ADMIN, ADMIN_PASSWORD, "sluice", sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The value of `column` in the row whose first value is `key`.
pub fn value(lines: &[String], key: &str, column: &str) -> String {
    let header: Vec<&str> = lines[0].split(',').collect();
    let at = header
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("no {column} in {header:?}"));
    let row = lines[1..]
        .iter()
        .find(|l| l.split(',').next() == Some(key))
        .unwrap_or_else(|| panic!("no row {key} in {lines:?}"));
    row.split(',').nth(at).unwrap().to_owned()
}

/// Every row of a result set, as column name to value.
pub fn rows(lines: &[String]) -> Vec<std::collections::HashMap<String, String>> {
    let header: Vec<&str> = lines[0].split(',').collect();
    lines[1..]
        .iter()
        .map(|l| {
            let values = l.split(',').map(str::to_owned);
            header.iter().map(|h| h.to_string()).zip(values).collect()
        })
        .collect()
}

/// A sluice with the MySQL route `mysql_support::DATABASE` on `mariadb` beside the
/// PostgreSQL route `appdb`; its MySQL read-write port.
pub fn start_with_mysql(
    pg: &test_support::PgServer,
    mariadb: &test_support::MariaDbServer,
) -> (Sluice, u16) {
    let password_file = std::env::temp_dir().join(format!(
        "sluice-console-mysql-{}-{}.secret",
        std::process::id(),
        mariadb.port()
    ));
    std::fs::write(&password_file, mysql_support::DB_PASSWORD).unwrap();
    let rw = test_support::free_port();
    let mysql = format!(
        "[mysql]\nlisten_rw = \"127.0.0.1:{rw}\"\nlisten_ro = \"127.0.0.1:{}\"\n\
         users_file = \"users.toml\"\n\
         [mysql.clusters.main]\nhosts = [\"127.0.0.1:{}\"]\ntls_mode = \"disable\"\n\
         [mysql.databases.{}]\ncluster = \"main\"\npool_size = 2\n\
         credentials = {{ username = \"{}\", password_file = \"{}\" }}\n",
        test_support::free_port(),
        mariadb.port(),
        mysql_support::DATABASE,
        mysql_support::DB_USER,
        password_file.display(),
    );
    let sluice = Sluice::start(
        pg,
        SluiceOptions {
            users: users_file(""),
            extra_sections: mysql,
            ..Default::default()
        },
    );
    (sluice, rw)
}

/// A new client's `select <n>` in a task: it logs in now, and its answer tells when
/// its transaction was let through (PAUSE, KILL hold it until RESUME).
pub async fn newcomer_selects(sluice: &Sluice, n: i32) -> tokio::task::JoinHandle<i32> {
    let newcomer = sluice.connect().await;
    tokio::spawn(async move {
        newcomer
            .query_one(&format!("select {n}"), &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
    })
}
