//! Harness of the MySQL end-to-end tests: real MariaDB servers from test-support, and
//! the real `sluice` binary in front of them, configured through a real config file.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        }
    }
}

pub struct MySluice {
    pub child: Option<Child>,
    pub rw_port: u16,
    pub ro_port: u16,
    pub admin_port: u16,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    log_path: PathBuf,
}

impl MySluice {
    pub fn start(opts: Options) -> MySluice {
        let dir = tempfile::tempdir().unwrap();
        let (rw_port, ro_port, admin_port) = (free_port(), free_port(), free_port());
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
            format!("{{ username = \"{DB_USER}\", password_file = \"db-password\" }}")
        });
        let hosts = opts
            .hosts
            .iter()
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "{}\n[log]\nlevel = \"debug\"\n\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\nshutdown_grace = \"5s\"\n\n\
             [mysql]\nlisten_rw = \"127.0.0.1:{rw_port}\"\nlisten_ro = \"127.0.0.1:{ro_port}\"\n\
             users_file = \"users.toml\"\n{hba_line}{}\n\n\
             [mysql.clusters.main]\nhosts = [{hosts}]\ntls_mode = \"{}\"\ncheck_interval = \"200ms\"\nconnect_timeout = \"1s\"\n{}\n\n\
             [mysql.databases.{DATABASE}]\ncluster = \"main\"\npool_mode = \"{}\"\npool_size = {}\n{}\ncredentials = {credentials}\n",
            opts.extra_sections,
            opts.extra_mysql,
            opts.tls_mode,
            opts.extra_cluster,
            opts.pool_mode,
            opts.pool_size,
            opts.extra_database,
        );
        let config_path = dir.path().join("sluice.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut s = MySluice {
            child: None,
            rw_port,
            ro_port,
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
            if TcpStream::connect(("127.0.0.1", self.rw_port)).is_ok()
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

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id();
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn admin_get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", self.admin_port)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (code, body)
    }
}

impl Drop for MySluice {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Ok(dir) = std::env::var("SLUICE_KEEP_LOGS") {
            // For a closer look at a run: the whole log, named by the listener's port.
            let _ = std::fs::copy(
                &self.log_path,
                Path::new(&dir).join(format!("sluice-{}.log", self.rw_port)),
            );
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("--- sluice log (last lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
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
