//! Shared harness of the end-to-end tests: a real PostgreSQL from test-support, and the
//! real `sluice` binary in front of it, configured through a real config file.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

pub struct Sluice {
    pub child: Option<Child>,
    pub port: u16,
    pub admin_port: u16,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    log_path: PathBuf,
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
    /// sluice → PostgreSQL TLS mode.
    pub tls_mode: &'static str,
    /// The routes' `credentials` value (an inline TOML table); by default the
    /// username `db_user` and a file holding `db_password`.
    pub credentials: Option<String>,
    /// Top-level sections placed before the others (e.g. `[vault]`).
    pub extra_sections: String,
    /// Ports of the cluster's members, in order; by default the one server's.
    pub hosts: Option<Vec<u16>>,
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
            tls_mode: "disable",
            credentials: None,
            extra_sections: String::new(),
            hosts: None,
        }
    }
}

impl Sluice {
    pub fn start(pg: &PgServer, opts: SluiceOptions) -> Sluice {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let admin_port = free_port();
        std::fs::write(dir.path().join("users.toml"), &opts.users).unwrap();
        std::fs::write(
            dir.path().join("db-password"),
            format!("{}\n", opts.db_password),
        )
        .unwrap();
        let hba_line = match &opts.hba {
            Some(h) => {
                std::fs::write(dir.path().join("hba.conf"), h).unwrap();
                "hba_file = \"hba.conf\"\n".to_owned()
            }
            None => String::new(),
        };
        let credentials = opts.credentials.clone().unwrap_or_else(|| {
            format!(
                "{{ username = \"{}\", password_file = \"db-password\" }}",
                opts.db_user
            )
        });
        let mut config = format!(
            "{}\n[log]\nlevel = \"debug\"\n\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\nshutdown_grace = \"5s\"\n\n\
             [postgres]\nlisten = \"127.0.0.1:{port}\"\nusers_file = \"users.toml\"\n{hba_line}{}\n\n\
             [postgres.clusters.main]\nhosts = [{}]\ntls_mode = \"{}\"\n{}\n",
            opts.extra_sections,
            opts.extra_postgres,
            opts.hosts
                .clone()
                .unwrap_or_else(|| vec![pg.port()])
                .iter()
                .map(|port| format!("\"127.0.0.1:{port}\""))
                .collect::<Vec<_>>()
                .join(", "),
            opts.tls_mode,
            opts.extra_cluster
        );
        for (name, server_db) in &opts.databases {
            config.push_str(&format!(
                "\n[postgres.databases.{name}]\ncluster = \"main\"\nserver_database = \"{server_db}\"\n\
                 pool_mode = \"{}\"\npool_size = {}\n{}\n\
                 credentials = {credentials}\n",
                opts.pool_mode, opts.pool_size, opts.extra_database
            ));
        }
        let config_path = dir.path().join("sluice.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut s = Sluice {
            child: None,
            port,
            admin_port,
            log_path: dir.path().join("sluice.log"),
            dir,
            config_path,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--config")
            .arg(&self.config_path)
            .env(
                "RUST_LOG",
                std::env::var("SLUICE_TEST_LOG").unwrap_or("debug".into()),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start sluice");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.admin_port)).is_ok()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sluice exited with {status}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sluice did not start listening:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
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

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id();
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns whether it exited successfully.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<bool> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// GET on the admin listener: (status code, body).
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin_port, path)
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- sluice log ----\n{}", self.log());
        }
    }
}

pub async fn connect(conn_str: &str) -> tokio_postgres::Client {
    try_connect(conn_str)
        .await
        .unwrap_or_else(|e| panic!("connect {conn_str}: {e}"))
}

pub async fn try_connect(conn_str: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(conn_str, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

/// The SQLSTATE of a failed connect or query.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_owned())
        .unwrap_or_else(|| format!("no code: {e}"))
}

/// Number of server connections of the application role, as PostgreSQL sees them.
pub fn server_connections(pg: &PgServer) -> usize {
    pg.psql(&format!(
        "select count(*) from pg_stat_activity where usename = '{DB_USER}'"
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
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", db)] {
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
