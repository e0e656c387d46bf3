//! What a test does with a running MariaDB server: its addresses and files, SQL as
//! the superuser, application accounts and databases, `read_only`, and pausing the
//! server (SIGSTOP) to make it unresponsive while it keeps its state.

use std::path::Path;
use std::time::{Duration, Instant};

use super::client::{quote_ident, quote_string, run_mariadb};
use super::server::{
    MariaDbServer, MARIADB_SUPERUSER, MARIADB_SUPERUSER_PASSWORD, STARTUP_TIMEOUT,
};
use crate::files::{read_log, tail};
use crate::ports::LOOPBACK;
use crate::process::stop_or_continue;

/// What [`MariaDbServer::create_user`] grants on `*.*`: what an application
/// needs, without `ALL PRIVILEGES`, which in MariaDB 10.11 includes
/// `READ_ONLY ADMIN` (writes despite `read_only`) and `CONNECTION ADMIN`
/// (ignores `max_connections`).
pub const APP_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, \
     REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, \
     CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, SHOW DATABASES, PROCESS";

impl MariaDbServer {
    /// TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Address the server listens on: `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        LOOPBACK
    }

    /// Superuser name and password; the account exists as `root@localhost`,
    /// `root@127.0.0.1` and `root@%`.
    pub fn superuser(&self) -> (&str, &str) {
        (MARIADB_SUPERUSER, MARIADB_SUPERUSER_PASSWORD)
    }

    /// The `server_id` of this server (unique within the test process).
    pub fn server_id(&self) -> u32 {
        self.server_id
    }

    /// Process id of `mariadbd`.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Path of the server's unix socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// Path of the server's error log.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log, for debugging.
    pub fn log_contents(&self) -> String {
        read_log(&self.log_path)
    }

    // -- SQL ----------------------------------------------------------------

    /// Runs `sql` (one or more `;`-separated statements, in one session) as
    /// the superuser over TCP and returns the trimmed output: one line per
    /// row, columns separated by tabs, no column names. Panics with the
    /// client's error output on failure.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql).unwrap_or_else(|err| {
            panic!(
                "mariadb on port {} failed for {sql:?}:\n{err}\n--- server log (tail) ---\n{}",
                self.port,
                tail(&self.log_contents(), 40)
            )
        })
    }

    /// Like [`MariaDbServer::sql`], returning the client's error output
    /// (for example `ERROR 1290 (HY000) at line 1: ...`) instead of
    /// panicking.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let (user, password) = self.superuser();
        run_mariadb(LOOPBACK, self.port, user, password, None, sql)
    }

    /// Creates account `name@'%'` with `password` (stored for
    /// `mysql_native_password`, MariaDB's default) and grants it
    /// [`APP_PRIVILEGES`] on `*.*`: everything an application does, but
    /// `read_only` applies to it.
    pub fn create_user(&self, name: &str, password: &str) {
        let account = format!("{}@'%'", quote_string(name));
        self.sql(&format!(
            "CREATE USER {account} IDENTIFIED VIA mysql_native_password USING PASSWORD({pw}); \
             GRANT {APP_PRIVILEGES} ON *.* TO {account};",
            pw = quote_string(password),
        ));
    }

    /// Creates database `name` (utf8mb4).
    pub fn create_database(&self, name: &str) {
        self.sql(&format!(
            "CREATE DATABASE {} CHARACTER SET utf8mb4",
            quote_ident(name)
        ));
    }

    /// Sets `@@global.read_only`. Accounts without `READ_ONLY ADMIN` (such
    /// as those of [`MariaDbServer::create_user`]) then get error 1290 on
    /// writes; the superuser and the replication threads still write.
    pub fn set_read_only(&self, read_only: bool) {
        self.sql(&format!(
            "SET GLOBAL read_only = {}",
            if read_only { "ON" } else { "OFF" }
        ));
    }

    // -- Availability -------------------------------------------------------

    /// Stops the server process (SIGSTOP): the kernel still accepts
    /// connections but nothing answers, while the server keeps its state.
    /// Returns once the process is stopped.
    pub fn pause(&self) {
        self.assert_running();
        stop_or_continue(self.pid, "mariadbd", true);
    }

    /// Continues a server stopped by [`MariaDbServer::pause`] (SIGCONT) and
    /// returns once it answers `SELECT 1` again.
    pub fn resume(&self) {
        self.assert_running();
        stop_or_continue(self.pid, "mariadbd", false);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match self.try_sql("SELECT 1") {
                Ok(_) => return,
                Err(e) if Instant::now() >= deadline => panic!(
                    "MariaDB on port {} did not answer within {STARTUP_TIMEOUT:?} after \
                     SIGCONT: {e}\n--- server log (tail) ---\n{}",
                    self.port,
                    tail(&self.log_contents(), 30)
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn assert_running(&self) {
        assert!(
            self.child.is_some(),
            "MariaDB on port {} is not running",
            self.port
        );
    }
}
