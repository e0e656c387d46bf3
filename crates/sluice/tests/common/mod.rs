//! Shared harness of the end-to-end tests: a real PostgreSQL from test-support, and the
//! real `sluice` binary in front of it, configured through a real config file.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::Command;

use test_support::sluice::{DatabaseConfig, PanicLog, ProtocolConfig, SluiceConfig, SluiceProcess};
// Not every test file uses both.
#[allow(unused_imports)]
pub use test_support::{connect, try_connect};
use test_support::{free_port, pg_bin, AuthMethod, PgServer};

/// The sluice client identity used by most tests.
pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app-secret";
/// The database role sluice logs in as (its password is only in sluice's password file).
pub const DB_USER: &str = "app_db";
pub const DB_PASSWORD: &str = "db-secret-Xy7";

/// A PostgreSQL with the application role and database created.
pub fn start_postgres() -> PgServer {
    let pg = PgServer::start();
    pg.create_user(DB_USER, DB_PASSWORD, AuthMethod::Scram);
    pg.create_database("appdb", DB_USER);
    pg
}

/// sluice in front of PostgreSQL; derefs to the process (log, signals, admin GETs).
pub struct Sluice {
    process: SluiceProcess,
    /// The PostgreSQL listener.
    pub port: u16,
}

/// Pieces of a test configuration.
pub struct SluiceOptions {
    pub pool_size: usize,
    pub pool_mode: &'static str,
    pub extra_postgres: String,
    pub extra_database: String,
    pub extra_cluster: String,
    pub hba: Option<String>,
    pub users: String,
    pub db_user: String,
    pub db_password: String,
    pub databases: Vec<(&'static str, &'static str)>,
    /// Lines for one database's block only (after `extra_database`), by its name.
    pub database_lines: Vec<(&'static str, String)>,
    /// sluice → PostgreSQL TLS mode.
    pub tls_mode: &'static str,
    /// The routes' `credentials` value (an inline TOML table); by default the
    /// username `db_user` and a file holding `db_password`.
    pub credentials: Option<String>,
    /// Top-level sections placed before the others (e.g. `[vault]`).
    pub extra_sections: String,
    /// Ports of the cluster's members, in order; by default the one server's.
    pub hosts: Option<Vec<u16>>,
    /// The `credentials` value of one database's block only, by its name, in place
    /// of `credentials`.
    pub database_credentials: Vec<(&'static str, String)>,
    /// The PostgreSQL listener's port; a free one by default. A replica started
    /// again after a stop takes its predecessor's.
    pub port: Option<u16>,
}

impl Default for SluiceOptions {
    fn default() -> Self {
        Self {
            pool_size: 5,
            pool_mode: "transaction",
            extra_postgres: String::new(),
            extra_database: String::new(),
            extra_cluster: String::new(),
            hba: None,
            users: format!("[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n"),
            db_user: DB_USER.into(),
            db_password: DB_PASSWORD.into(),
            databases: vec![("appdb", "appdb")],
            database_lines: Vec::new(),
            tls_mode: "disable",
            credentials: None,
            extra_sections: String::new(),
            hosts: None,
            database_credentials: Vec::new(),
            port: None,
        }
    }
}

impl Sluice {
    pub fn start(pg: &PgServer, opts: SluiceOptions) -> Sluice {
        let port = opts.port.unwrap_or_else(free_port);
        let credentials = opts
            .credentials
            .clone()
            .unwrap_or_else(|| SluiceConfig::password_file_credentials(&opts.db_user));
        let extras: Vec<String> = opts
            .databases
            .iter()
            .map(|(name, _)| {
                let own = opts.database_lines.iter().filter(|(db, _)| db == name);
                let own: String = own.map(|(_, lines)| format!("{lines}\n")).collect();
                format!("{}\n{own}", opts.extra_database)
            })
            .collect();
        let own_credentials: Vec<&str> = opts
            .databases
            .iter()
            .map(|(name, _)| {
                opts.database_credentials
                    .iter()
                    .find(|(db, _)| db == name)
                    .map_or(credentials.as_str(), |(_, own)| own.as_str())
            })
            .collect();
        let databases = opts
            .databases
            .iter()
            .zip(&extras)
            .zip(&own_credentials)
            .map(|(((name, server_db), extra), credentials)| DatabaseConfig {
                name,
                server_database: Some(server_db),
                pool_mode: opts.pool_mode,
                pool_size: opts.pool_size,
                extra,
                credentials,
            })
            .collect();
        let config = SluiceConfig {
            extra_sections: &opts.extra_sections,
            users: &opts.users,
            hba: opts.hba.as_deref(),
            db_password: &opts.db_password,
            protocol: ProtocolConfig {
                name: "postgres",
                listeners: vec![("listen", port)],
                extra: &opts.extra_postgres,
                hosts: opts.hosts.clone().unwrap_or_else(|| vec![pg.port()]),
                tls_mode: opts.tls_mode,
                extra_cluster: opts.extra_cluster.clone(),
                databases,
            },
        };
        let process = SluiceProcess::start(
            Path::new(env!("CARGO_BIN_EXE_sluice")),
            &config,
            &[port],
            PanicLog::Whole,
        );
        Sluice { process, port }
    }

    /// A libpq-style connection string for a sluice client.
    pub fn conn_str(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname={db}",
            self.port
        )
    }

    pub fn app_conn_str(&self) -> String {
        self.conn_str(APP_USER, APP_PASSWORD, "appdb")
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.app_conn_str()).await
    }
}

impl Deref for Sluice {
    type Target = SluiceProcess;

    fn deref(&self) -> &SluiceProcess {
        &self.process
    }
}

impl DerefMut for Sluice {
    fn deref_mut(&mut self) -> &mut SluiceProcess {
        &mut self.process
    }
}

/// The SQLSTATE of a failed connect or query.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_owned())
        .unwrap_or_else(|| format!("no code: {e}"))
}

/// Number of server connections of the application role that serve clients, as
/// PostgreSQL sees them: the cluster watcher's own (one per member) left out.
pub fn server_connections(pg: &PgServer) -> usize {
    pg.psql(&format!(
        "select count(*) from pg_stat_activity where usename = '{DB_USER}' \
         and application_name is distinct from '{}'",
        pg_proxy::watcher::APPLICATION_NAME
    ))
    .parse()
    .unwrap()
}

/// Runs pgbench through sluice as the application user; panics unless it succeeds.
pub fn pgbench(sluice: &Sluice, args: &[&str]) -> String {
    let out = Command::new(pg_bin("pgbench"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &sluice.port.to_string(),
            "-U",
            APP_USER,
        ])
        .args(args)
        .arg("appdb")
        .env("PGPASSWORD", APP_PASSWORD)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pgbench {args:?} failed:\n{text}");
    text
}

/// (transactions processed, failed transactions) from pgbench's report.
pub fn processed(output: &str) -> (u64, u64) {
    let get = |prefix: &str| {
        output
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.split('/').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    let done = get("number of transactions actually processed:").expect("processed line");
    let failed = get("number of failed transactions:").unwrap_or(0);
    (done, failed)
}

/// A protocol StartupMessage (or, with another `version`, a request sluice refuses).
pub fn startup_packet(user: &str, db: &str, version: u32) -> Vec<u8> {
    startup_packet_with(user, db, version, &[])
}

/// A StartupMessage with more parameters after `user` and `database`.
pub fn startup_packet_with(user: &str, db: &str, version: u32, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", db)].iter().chain(extra) {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}
