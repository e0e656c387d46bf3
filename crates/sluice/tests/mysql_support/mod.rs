//! Harness of the MySQL end-to-end tests: real MariaDB servers from test-support, and
//! the real `sluice` binary in front of them, configured through a real config file.
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use test_support::sluice::{DatabaseConfig, PanicLog, ProtocolConfig, SluiceConfig, SluiceProcess};
use test_support::{free_port, MariaDbServer};

/// The sluice client identity most tests use.
pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app-secret";
/// The database user sluice logs in as (its password is only in sluice's file).
pub const DB_USER: &str = "app_db";
pub const DB_PASSWORD: &str = "db-secret-My7";
pub const DATABASE: &str = "shop";

/// A MariaDB with the application user and database.
pub fn start_mariadb() -> MariaDbServer {
    let m = MariaDbServer::start();
    m.create_user(DB_USER, DB_PASSWORD);
    m.create_database(DATABASE);
    m
}

/// Pieces of a test configuration.
pub struct Options {
    pub pool_size: usize,
    pub pool_mode: &'static str,
    /// Ports of the cluster's members, in order.
    pub hosts: Vec<u16>,
    pub users: String,
    pub hba: Option<String>,
    /// Lines added to `[mysql]`, the cluster and the database section.
    pub extra_mysql: String,
    pub extra_cluster: String,
    pub extra_database: String,
    /// The route's `credentials` value; by default `DB_USER` and a file with `db_password`.
    pub credentials: Option<String>,
    pub db_password: String,
    pub tls_mode: &'static str,
    /// Top-level sections placed before the others (e.g. `[vault]`).
    pub extra_sections: String,
    /// The read-write and read-only listeners' ports; free ones by default. A
    /// replica started again after a stop takes its predecessor's.
    pub listen: Option<(u16, u16)>,
}

impl Options {
    pub fn new(hosts: Vec<u16>) -> Self {
        Self {
            pool_size: 5,
            pool_mode: "transaction",
            hosts,
            users: format!("[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n"),
            hba: None,
            extra_mysql: String::new(),
            extra_cluster: String::new(),
            extra_database: String::new(),
            credentials: None,
            db_password: DB_PASSWORD.into(),
            tls_mode: "disable",
            extra_sections: String::new(),
            listen: None,
        }
    }
}

/// sluice in front of MariaDB; derefs to the process (log, signals, admin GETs).
pub struct MySluice {
    process: SluiceProcess,
    pub rw_port: u16,
    pub ro_port: u16,
}

impl MySluice {
    pub fn start(opts: Options) -> MySluice {
        let (rw_port, ro_port) = opts.listen.unwrap_or_else(|| (free_port(), free_port()));
        let credentials = opts
            .credentials
            .clone()
            .unwrap_or_else(|| SluiceConfig::password_file_credentials(DB_USER));
        let config = SluiceConfig {
            extra_sections: &opts.extra_sections,
            users: &opts.users,
            hba: opts.hba.as_deref(),
            db_password: &opts.db_password,
            protocol: ProtocolConfig {
                name: "mysql",
                listeners: vec![("listen_rw", rw_port), ("listen_ro", ro_port)],
                extra: &opts.extra_mysql,
                hosts: opts.hosts.clone(),
                tls_mode: opts.tls_mode,
                extra_cluster: format!(
                    "check_interval = \"200ms\"\nconnect_timeout = \"1s\"\n{}",
                    opts.extra_cluster
                ),
                databases: vec![DatabaseConfig {
                    name: DATABASE,
                    server_database: None,
                    pool_mode: opts.pool_mode,
                    pool_size: opts.pool_size,
                    extra: &opts.extra_database,
                    credentials: &credentials,
                }],
            },
        };
        let process = SluiceProcess::start(
            Path::new(env!("CARGO_BIN_EXE_sluice")),
            &config,
            &[rw_port],
            PanicLog::LastLines(80),
        );
        MySluice {
            process,
            rw_port,
            ro_port,
        }
    }

    pub fn url(&self, port: u16, user: &str, password: &str, db: &str) -> String {
        format!("mysql://{user}:{password}@127.0.0.1:{port}/{db}")
    }

    /// A mysql_async connection through the read-write port as the app.
    pub async fn connect(&self) -> mysql_async::Conn {
        self.connect_to(self.rw_port).await
    }

    pub async fn connect_to(&self, port: u16) -> mysql_async::Conn {
        let url = self.url(port, APP_USER, APP_PASSWORD, DATABASE);
        let opts = mysql_async::Opts::from_url(&url).unwrap();
        match mysql_async::Conn::new(opts).await {
            Ok(c) => c,
            Err(e) => panic!("cannot connect through sluice: {e}\n{}", self.log()),
        }
    }

    /// The `mariadb` command-line client through sluice; stdout or the error text.
    pub fn cli(
        &self,
        port: u16,
        user: &str,
        password: &str,
        args: &[&str],
        sql: &str,
    ) -> Result<String, String> {
        let out = Command::new(test_support::mariadb::mariadb_bin("mariadb"))
            .args(["--protocol=TCP", "-h", "127.0.0.1", "-P", &port.to_string()])
            .arg(format!("-u{user}"))
            .arg(format!("-p{password}"))
            .args(["--batch", "--skip-column-names", "--ssl=0"])
            .args(args)
            .arg(DATABASE)
            .arg("-e")
            .arg(sql)
            .output()
            .expect("run mariadb");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Deref for MySluice {
    type Target = SluiceProcess;

    fn deref(&self) -> &SluiceProcess {
        &self.process
    }
}

impl DerefMut for MySluice {
    fn deref_mut(&mut self) -> &mut SluiceProcess {
        &mut self.process
    }
}

/// Server connections the database user has open on `m` (sluice's pool and watcher).
pub fn server_connections(m: &MariaDbServer) -> usize {
    m.sql(&format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{DB_USER}'"
    ))
    .trim()
    .parse()
    .unwrap()
}

/// Waits until `f` holds, up to `timeout`.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The sysbench binary; a test without it fails and says how to install it.
pub fn sysbench() -> &'static str {
    ["/usr/bin/sysbench", "/usr/local/bin/sysbench"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("sysbench is missing: install it with apt-get install sysbench (or run scripts/install-deps.sh)")
        })
}

/// sysbench's options to reach `port` as `user`: the test database, one table of
/// 1000 rows.
pub fn sysbench_args(port: u16, user: &str, password: &str) -> Vec<String> {
    vec![
        "--db-driver=mysql".to_owned(),
        "--mysql-host=127.0.0.1".to_owned(),
        format!("--mysql-port={port}"),
        format!("--mysql-user={user}"),
        format!("--mysql-password={password}"),
        format!("--mysql-db={DATABASE}"),
        "--mysql-ssl=off".to_owned(),
        "--tables=1".to_owned(),
        "--table-size=1000".to_owned(),
    ]
}

/// sysbench's line `NAME N` (e.g. `ignored errors:`, `reconnects:`, `queries:`) as a
/// number.
pub fn sysbench_count(out: &str, name: &str) -> Option<u64> {
    out.lines()
        .find(|l| l.trim_start().starts_with(name))
        .and_then(|l| l.trim_start()[name.len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
