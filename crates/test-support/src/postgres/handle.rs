//! What a test does with a running PostgreSQL server: its addresses and files,
//! connection strings, SQL through `psql`, and roles and databases — a new role's
//! pg_hba.conf line is in force when [`PgServer::create_user`] returns.

use std::path::Path;
use std::time::{Duration, Instant};

use super::auth::{probe_auth_request, AuthMethod, SUPERUSER, SUPERUSER_PASSWORD};
use super::psql::{conninfo_value, quote_ident, quote_literal, run_psql};
use super::server::{PgOptions, PgServer};
use crate::files::{read_log, tail};
use crate::ports::LOOPBACK;
use crate::process::lock;
use crate::tls::TlsFiles;

const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

impl PgServer {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Address the server listens on: `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        LOOPBACK
    }

    /// Superuser name and password (password authentication is required over TCP).
    pub fn superuser(&self) -> (&str, &str) {
        (SUPERUSER, SUPERUSER_PASSWORD)
    }

    /// The options the server was started with.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// The TLS files used by the server (CA, certificate, key), when TLS is on.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Directory of the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Path of the server log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log, for debugging.
    pub fn log_contents(&self) -> String {
        read_log(&self.log_path)
    }

    /// A libpq-style connection string for this server over TCP:
    /// `host=127.0.0.1 port=.. user=.. password=.. dbname=..`.
    pub fn connection_string(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "host={} port={} user={} password={} dbname={}",
            LOOPBACK,
            self.port,
            conninfo_value(user),
            conninfo_value(password),
            conninfo_value(db)
        )
    }

    /// Connection string of the superuser to database `postgres`.
    pub fn superuser_connection_string(&self) -> String {
        self.connection_string(SUPERUSER, SUPERUSER_PASSWORD, "postgres")
    }

    /// Runs `sql` with psql as the superuser in database `postgres` and
    /// returns the trimmed output (unaligned, tuples only: one line per row,
    /// columns separated by `|`). Panics with psql's error output on failure.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("postgres", sql)
    }

    /// Like [`PgServer::psql`] in database `db`.
    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        let conninfo = self.connection_string(SUPERUSER, SUPERUSER_PASSWORD, db);
        run_psql(&conninfo, sql).unwrap_or_else(|err| {
            panic!(
                "psql on port {} failed for {sql:?}:\n{err}\n--- server log (tail) ---\n{}",
                self.port,
                tail(&self.log_contents(), 40)
            )
        })
    }

    /// Creates a LOGIN role with `password` stored as `method` requires,
    /// allows it to create objects in database `postgres` and in schema
    /// `public`, and routes its TCP connections to `method` in pg_hba.conf.
    /// Returns once the server applies the new pg_hba.conf.
    pub fn create_user(&self, name: &str, password: &str, method: AuthMethod) {
        assert!(
            !name.is_empty() && !name.contains(['"', '\n', '\r', '\0']),
            "unsupported role name {name:?}"
        );
        let encryption = match method {
            AuthMethod::Md5 => "md5",
            AuthMethod::Scram | AuthMethod::Cleartext => "scram-sha-256",
        };
        let ident = quote_ident(name);
        self.psql(&format!(
            "SET password_encryption = {enc}; \
             CREATE ROLE {ident} LOGIN PASSWORD {pw}; \
             GRANT CREATE ON DATABASE postgres TO {ident}; \
             GRANT CREATE ON SCHEMA public TO {ident};",
            enc = quote_literal(encryption),
            pw = quote_literal(password),
        ));
        {
            let mut users = lock(&self.hba_users);
            users.retain(|(user, _)| user != name);
            users.push((name.to_string(), method));
            self.write_hba(&users);
        }
        self.reload_and_wait(name, method);
    }

    /// Creates database `name` owned by role `owner`.
    pub fn create_database(&self, name: &str, owner: &str) {
        self.psql(&format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(name),
            quote_ident(owner)
        ));
    }

    fn reload_and_wait(&self, user: &str, method: AuthMethod) {
        let expected = method.auth_request_code();
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        let mut last = None;
        let mut reloaded_at: Option<Instant> = None;
        loop {
            if reloaded_at.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                self.psql("SELECT pg_reload_conf()");
                reloaded_at = Some(Instant::now());
            }
            last = match probe_auth_request(self.port, user) {
                Ok(code) if code == Some(expected) => return,
                Ok(code) => code.map(|c| c.to_string()),
                Err(e) => Some(e.to_string()),
            }
            .or(last);
            if Instant::now() >= deadline {
                panic!(
                    "pg_hba.conf change for {user:?} ({}) was not applied within {:?} \
                     (last answer: {last:?})\n--- server log ---\n{}",
                    method.hba_name(),
                    RELOAD_TIMEOUT,
                    self.log_contents()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
