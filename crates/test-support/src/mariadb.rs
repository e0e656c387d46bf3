//! Helpers that start real MariaDB 10.11 servers for sluice's tests.
//!
//! Every [`MariaDbServer`] is a private instance: its own temporary
//! directory holding the data directory, unix socket, pid file and log, and
//! a free loopback TCP port. The machine's own MariaDB (port 3306) is never
//! touched. Binary logging is always on, so that
//! [`MariaDbServer::start_replica_of`] can attach a replica that follows the
//! server by real binlog replication (GTID based).
//!
//! `mariadbd` refuses to run as root, so when the tests run as root it is
//! started with `--user=mysql` inside a directory owned by the `mysql` OS
//! user.
//!
//! The helpers talk to the servers through the `mariadb` command line
//! client, so everything here is synchronous, like the rest of the crate.
//!
//! Environment variables:
//! * `SLUICE_MARIADB_BINDIR`: directory searched first for `mariadbd`,
//!   `mariadb-install-db` and `mariadb`.
//! * `SLUICE_KEEP_MARIADB_DIR`: when set, a server's directory (data and
//!   log) is kept after the server is dropped and its path is printed.

use std::collections::HashMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{
    free_port, is_executable, make_tempdir, running_as_root, set_mode, shell_quote, tail, LOOPBACK,
};

/// How to get the MariaDB binaries when they are missing.
pub const MARIADB_INSTALL_HINT: &str =
    "install it with: apt-get install mariadb-server mariadb-client (or run scripts/install-deps.sh)";

/// Name of the superuser account (`root`, reachable as `root@localhost`,
/// `root@127.0.0.1` and `root@%`).
pub const MARIADB_SUPERUSER: &str = "root";
/// Password of the superuser account of every test server.
pub const MARIADB_SUPERUSER_PASSWORD: &str = "sluice-test-root-pw";
/// Account a replica uses to read its primary's binlog.
pub const REPLICATION_USER: &str = "sluice_repl";
const REPLICATION_PASSWORD: &str = "sluice-test-repl-pw";

/// What [`MariaDbServer::create_user`] grants on `*.*`: what an application
/// needs, without `ALL PRIVILEGES`, which in MariaDB 10.11 includes
/// `READ_ONLY ADMIN` (writes despite `read_only`) and `CONNECTION ADMIN`
/// (ignores `max_connections`).
pub const APP_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, \
     REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, \
     CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, SHOW DATABASES, PROCESS";

const MAX_CONNECTIONS: u32 = 500;
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);
const START_ATTEMPTS: usize = 5;
/// `--connect-timeout` of client calls, so that they do not hang for long
/// when a server is paused.
const CLIENT_CONNECT_TIMEOUT: &str = "10";

// ---------------------------------------------------------------------------
// Binaries and the OS user
// ---------------------------------------------------------------------------

/// Full path of a MariaDB binary (`mariadbd`, `mariadb-install-db`,
/// `mariadb`, ...): `$SLUICE_MARIADB_BINDIR`, `/usr/sbin`, `/usr/bin`, then
/// `PATH`.
///
/// Panics with installation instructions when it cannot be found.
pub fn mariadb_bin(name: &str) -> PathBuf {
    let dirs = mariadb_bindir_candidates();
    if let Some(path) = dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)) {
        return path;
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    panic!(
        "MariaDB binary `{name}` not found (looked in: {}). The tests need MariaDB 10.11: \
         {MARIADB_INSTALL_HINT}",
        looked.join(", ")
    );
}

fn mariadb_bindir_candidates() -> &'static [PathBuf] {
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let mut dirs = Vec::new();
        if let Some(dir) = std::env::var_os("SLUICE_MARIADB_BINDIR") {
            if !dir.is_empty() {
                dirs.push(PathBuf::from(dir));
            }
        }
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
            dirs.push(PathBuf::from(dir));
        }
        if let Some(path) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&path).filter(|d| !d.as_os_str().is_empty()));
        }
        let mut seen = Vec::new();
        dirs.retain(|d| {
            let new = !seen.contains(d);
            seen.push(d.clone());
            new
        });
        dirs
    })
}

/// uid and gid of the `mysql` OS user, if it exists.
fn mysql_os_user() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| {
        let passwd = fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[0] == "mysql" {
                Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
            } else {
                None
            }
        })
    })
}

fn required_mysql_os_user() -> (u32, u32) {
    mysql_os_user().unwrap_or_else(|| {
        panic!(
            "the tests run as root, so MariaDB has to run as the `mysql` OS user, which does \
             not exist; it is created by the mariadb-server package: {MARIADB_INSTALL_HINT}"
        )
    })
}

/// Gives a file or directory to the `mysql` OS user when we are root.
fn give_to_mysql(path: &Path) {
    if running_as_root() {
        let (uid, gid) = required_mysql_os_user();
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {} to mysql: {e}", path.display()));
    }
}

/// Removes client environment variables (`MYSQL_PWD`, `MYSQL_HOST`,
/// `MYSQL_TCP_PORT`, ...) that could redirect a command to another server.
fn clean_mysql_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("MYSQL") || key_str.starts_with("MARIADB") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LC_ALL", "C");
}

// ---------------------------------------------------------------------------
// Quoting
// ---------------------------------------------------------------------------

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
enum Target<'a> {
    Tcp { host: &'a str, port: u16 },
    Socket(&'a Path),
}

fn client_command(target: &Target<'_>, user: &str, password: &str, db: Option<&str>) -> Command {
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

fn run_client(mut cmd: Command, sql: &str) -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// A running MariaDB server private to a test. Dropping it stops the server
/// and removes its directory, also when the test panics.
pub struct MariaDbServer {
    port: u16,
    server_id: u32,
    read_only_at_start: bool,
    root: PathBuf,
    data_dir: PathBuf,
    socket_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    pid: u32,
    watchdog: Option<Child>,
    tmp: Option<TempDir>,
}

impl std::fmt::Debug for MariaDbServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariaDbServer")
            .field("port", &self.port)
            .field("server_id", &self.server_id)
            .field("pid", &self.pid)
            .field("dir", &self.root)
            .field("running", &self.child.is_some())
            .finish()
    }
}

/// Server ids must differ between a primary and its replicas.
fn next_server_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl MariaDbServer {
    /// Starts a server with binary logging on, an empty database `test`, no
    /// anonymous accounts and the superuser of [`MariaDbServer::superuser`].
    /// Panics (showing the server log) when it does not answer `SELECT 1`
    /// within 30 seconds, and with installation instructions when MariaDB
    /// is missing.
    pub fn start() -> MariaDbServer {
        MariaDbServer::start_server(false)
    }

    /// Starts a `read_only` server that replicates from `primary` by GTID
    /// binlog replication, starting at the beginning of the primary's
    /// binlog: accounts, databases and rows the primary got through SQL
    /// (before or after this call) reach the replica. Returns once both
    /// replication threads run and the replica has caught up.
    pub fn start_replica_of(primary: &MariaDbServer) -> MariaDbServer {
        primary.sql(&format!(
            "SET SESSION sql_log_bin = 0; \
             CREATE USER IF NOT EXISTS {user}@'%' IDENTIFIED BY {pw}; \
             GRANT REPLICATION SLAVE ON *.* TO {user}@'%';",
            user = quote_string(REPLICATION_USER),
            pw = quote_string(REPLICATION_PASSWORD),
        ));
        let replica = MariaDbServer::start_server(true);
        replica.sql(&format!(
            "CHANGE MASTER TO MASTER_HOST={host}, MASTER_PORT={port}, MASTER_USER={user}, \
             MASTER_PASSWORD={pw}, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; \
             START SLAVE;",
            host = quote_string(primary.host()),
            port = primary.port(),
            user = quote_string(REPLICATION_USER),
            pw = quote_string(REPLICATION_PASSWORD),
        ));
        replica.wait_replication_running(primary);
        replica.wait_replicated(primary);
        replica
    }

    fn start_server(read_only: bool) -> MariaDbServer {
        let install_db = mariadb_bin("mariadb-install-db");
        mariadb_bin("mariadbd");
        mariadb_bin("mariadb");
        if running_as_root() {
            required_mysql_os_user();
        }

        let tmp = make_tempdir("sluice-mariadb-");
        let root = tmp.path().to_path_buf();
        set_mode(&root, 0o755);
        give_to_mysql(&root);

        let mut server = MariaDbServer {
            port: 0,
            server_id: next_server_id(),
            read_only_at_start: read_only,
            data_dir: root.join("data"),
            socket_path: root.join("mariadbd.sock"),
            log_path: root.join("mariadbd.log"),
            root,
            child: None,
            pid: 0,
            watchdog: None,
            tmp: Some(tmp),
        };

        // Created here so that it is readable even before the server writes.
        fs::write(&server.log_path, b"").expect("create log file");
        set_mode(&server.log_path, 0o644);
        give_to_mysql(&server.log_path);
        let tmp_dir = server.tmp_dir();
        fs::create_dir(&tmp_dir).unwrap_or_else(|e| panic!("create {}: {e}", tmp_dir.display()));
        give_to_mysql(&tmp_dir);

        server.install_db(&install_db);
        server.launch();
        server.spawn_watchdog();
        server.secure();
        server
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Options shared by `mariadb-install-db` (which hands them to its
    /// bootstrap `mariadbd`) and the server itself.
    fn storage_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--datadir={}", self.data_dir.display()),
            // Temporary tables stay inside the server's directory, not /tmp.
            format!("--tmpdir={}", self.tmp_dir().display()),
            "--innodb-buffer-pool-size=64M".to_string(),
            "--innodb-log-file-size=16M".to_string(),
            "--innodb-flush-log-at-trx-commit=2".to_string(),
            "--innodb-doublewrite=0".to_string(),
        ];
        if running_as_root() {
            args.push("--user=mysql".to_string());
        }
        args
    }

    /// Creates the system tables. The bootstrap `mariadbd` has been seen to
    /// crash (signal 11 while creating the `sys` schema), so a crash is
    /// retried once on a fresh data directory.
    fn install_db(&self, install_db: &Path) {
        for attempt in 1..=2 {
            let mut cmd = Command::new(install_db);
            clean_mysql_env(&mut cmd);
            cmd.arg("--no-defaults")
                .args(self.storage_args())
                .args([
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ])
                .current_dir(&self.root)
                .stdin(Stdio::null());
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", install_db.display()));
            if out.status.success() {
                return;
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            if attempt == 1 && stderr.contains("got signal") {
                eprintln!(
                    "mariadb-install-db crashed in {}; retrying",
                    self.data_dir.display()
                );
                let _ = fs::remove_dir_all(&self.data_dir);
                continue;
            }
            panic!(
                "mariadb-install-db failed ({}) in {}:\n--- stdout ---\n{}\n--- stderr ---\n{stderr}",
                out.status,
                self.data_dir.display(),
                String::from_utf8_lossy(&out.stdout),
            );
        }
    }

    /// Starts `mariadbd` on a free port (retrying when another process took
    /// the port first) and waits until it answers `SELECT 1` on its socket.
    fn launch(&mut self) {
        let mariadbd = mariadb_bin("mariadbd");
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.port = free_port();
            let log_before = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0);
            let log = fs::OpenOptions::new()
                .append(true)
                .open(&self.log_path)
                .unwrap_or_else(|e| panic!("open {}: {e}", self.log_path.display()));
            let log_err = log
                .try_clone()
                .unwrap_or_else(|e| panic!("dup {}: {e}", self.log_path.display()));

            let mut cmd = Command::new(&mariadbd);
            clean_mysql_env(&mut cmd);
            cmd.arg("--no-defaults")
                .args(self.storage_args())
                .arg(format!("--port={}", self.port))
                .arg(format!("--bind-address={LOOPBACK}"))
                .arg(format!("--socket={}", self.socket_path.display()))
                .arg(format!(
                    "--pid-file={}",
                    self.root.join("mariadbd.pid").display()
                ))
                .arg(format!("--log-error={}", self.log_path.display()))
                .arg(format!("--server-id={}", self.server_id))
                .arg("--log-bin=mariadb-bin")
                .arg("--relay-log=relay-bin")
                .arg("--binlog-format=ROW")
                .arg("--sync-binlog=0")
                .arg(format!("--max-connections={MAX_CONNECTIONS}"))
                .arg("--skip-name-resolve")
                .arg("--character-set-server=utf8mb4")
                .arg("--collation-server=utf8mb4_general_ci")
                .arg(format!(
                    "--read-only={}",
                    if self.read_only_at_start { "ON" } else { "OFF" }
                ))
                .current_dir(&self.root)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                // Keeps terminal signals (Ctrl-C) away from the server; the
                // watchdog and Drop end it.
                .process_group(0);
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", mariadbd.display()));
            self.pid = child.id();
            self.child = Some(child);

            match self.wait_until_ready("") {
                Ok(()) => return,
                Err(reason) => {
                    let log = self.log_contents();
                    let new_log = log.get(log_before as usize..).unwrap_or(&log);
                    let port_taken = new_log.contains("Address already in use");
                    self.kill();
                    if port_taken && attempt < START_ATTEMPTS {
                        continue;
                    }
                    panic!(
                        "MariaDB did not start (port {}, dir {}): {reason}\n--- server log ---\n{log}",
                        self.port,
                        self.root.display(),
                    );
                }
            }
        }
    }

    /// Polls `SELECT 1` as root over the server's own socket, which no other
    /// server can answer.
    fn wait_until_ready(&mut self, password: &str) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut last_error = String::new();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("mariadbd exited with {status}"));
                }
            }
            if self.socket_path.exists() {
                let cmd = client_command(
                    &Target::Socket(&self.socket_path),
                    MARIADB_SUPERUSER,
                    password,
                    None,
                );
                match run_client(cmd, "SELECT 1") {
                    Ok(out) if out == "1" => return Ok(()),
                    Ok(out) => last_error = format!("unexpected answer {out:?}"),
                    Err(e) => last_error = e,
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no answer to SELECT 1 within {STARTUP_TIMEOUT:?} (last error: {last_error})"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Drops the anonymous accounts (they shadow `'user'@'%'` logins from
    /// 127.0.0.1) and the host-specific root accounts, gives the superuser
    /// its password on the socket and over TCP, and creates database
    /// `test`. None of this is binlogged, so that a replica replaying the
    /// binlog from its start does not trip over it.
    fn secure(&self) {
        let socket = Target::Socket(&self.socket_path);
        let as_root = |sql: &str| {
            run_client(
                client_command(&socket, MARIADB_SUPERUSER, "", None),
                sql,
            )
            .unwrap_or_else(|e| {
                panic!(
                    "setting up MariaDB on port {} failed for {sql:?}:\n{e}\n--- server log ---\n{}",
                    self.port,
                    self.log_contents()
                )
            })
        };
        let doomed = as_root(
            "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.global_priv \
             WHERE User = '' OR (User = 'root' AND Host <> 'localhost')",
        );
        let mut sql = String::from("SET SESSION sql_log_bin = 0;\n");
        for account in doomed.lines().filter(|l| !l.trim().is_empty()) {
            sql.push_str(&format!("DROP USER {account};\n"));
        }
        let pw = quote_string(MARIADB_SUPERUSER_PASSWORD);
        for host in [LOOPBACK, "%"] {
            let account = format!("{}@{}", quote_string(MARIADB_SUPERUSER), quote_string(host));
            sql.push_str(&format!(
                "CREATE USER {account} IDENTIFIED BY {pw};\n\
                 GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION;\n"
            ));
        }
        sql.push_str("CREATE DATABASE test;\n");
        // Last: the session is authenticated with the old, empty password.
        sql.push_str(&format!(
            "ALTER USER {}@'localhost' IDENTIFIED BY {pw};\n",
            quote_string(MARIADB_SUPERUSER)
        ));
        as_root(&sql);

        // The superuser now logs in over TCP with its password.
        assert_eq!(self.sql("SELECT 1"), "1");
    }

    /// Starts a helper that kills the server and removes its directory if
    /// this process goes away without dropping the `MariaDbServer` (for
    /// example when the test binary is killed). It waits for end-of-file on
    /// a pipe whose write end only this process holds.
    fn spawn_watchdog(&mut self) {
        let remove = if std::env::var_os("SLUICE_KEEP_MARIADB_DIR").is_some() {
            String::new()
        } else {
            format!("rm -rf {}", shell_quote(&self.root.to_string_lossy()))
        };
        let script = format!(
            "trap '' INT TERM HUP; cat >/dev/null; kill -KILL {} 2>/dev/null; {remove}",
            self.pid
        );
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // Without the helper everything still works; only abnormal exits
        // would leave a server behind.
        self.watchdog = cmd.spawn().ok();
    }

    // -- Accessors ----------------------------------------------------------

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
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
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

    // -- Replication --------------------------------------------------------

    /// `SHOW SLAVE STATUS` as column name → value, or `None` when the server
    /// does not replicate from anything.
    pub fn replica_status(&self) -> Option<HashMap<String, String>> {
        let (user, password) = self.superuser();
        let mut cmd = client_command(
            &Target::Tcp {
                host: LOOPBACK,
                port: self.port,
            },
            user,
            password,
            None,
        );
        cmd.arg("--execute").arg("SHOW SLAVE STATUS");
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run the mariadb client: {e}"));
        if !out.status.success() {
            panic!(
                "SHOW SLAVE STATUS on port {} failed: {}",
                self.port,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let names = lines.next()?;
        let values = lines.next()?;
        Some(
            names
                .split('\t')
                .zip(values.split('\t'))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn wait_replication_running(&self, primary: &MariaDbServer) {
        let deadline = Instant::now() + REPLICATION_TIMEOUT;
        loop {
            let status = self.replica_status();
            let running = |key: &str| {
                status
                    .as_ref()
                    .and_then(|s| s.get(key))
                    .is_some_and(|v| v == "Yes")
            };
            if running("Slave_IO_Running") && running("Slave_SQL_Running") {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "replication from port {} to port {} did not start within \
                     {REPLICATION_TIMEOUT:?}; SHOW SLAVE STATUS: {status:?}\n\
                     --- replica log (tail) ---\n{}\n--- primary log (tail) ---\n{}",
                    primary.port,
                    self.port,
                    tail(&self.log_contents(), 30),
                    tail(&primary.log_contents(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until this replica has applied everything `primary` has
    /// binlogged so far (`MASTER_GTID_WAIT` on the primary's
    /// `@@gtid_binlog_pos`). Panics after 30 seconds.
    pub fn wait_replicated(&self, primary: &MariaDbServer) {
        let position = primary.sql("SELECT @@GLOBAL.gtid_binlog_pos");
        if position.is_empty() {
            return;
        }
        let answer = self.sql(&format!(
            "SELECT MASTER_GTID_WAIT({}, {})",
            quote_string(&position),
            REPLICATION_TIMEOUT.as_secs()
        ));
        if answer != "0" {
            panic!(
                "replica on port {} did not reach the primary's position {position} within \
                 {REPLICATION_TIMEOUT:?} (gtid_slave_pos: {}); SHOW SLAVE STATUS: {:?}\n\
                 --- replica log (tail) ---\n{}",
                self.port,
                self.sql("SELECT @@GLOBAL.gtid_slave_pos"),
                self.replica_status(),
                tail(&self.log_contents(), 30)
            );
        }
    }

    // -- Availability -------------------------------------------------------

    /// Stops the server process (SIGSTOP): the kernel still accepts
    /// connections but nothing answers, while the server keeps its state.
    /// Returns once the process is stopped.
    pub fn pause(&self) {
        self.signal("STOP");
        self.wait_for_state(true);
    }

    /// Continues a server stopped by [`MariaDbServer::pause`] (SIGCONT) and
    /// returns once it answers `SELECT 1` again.
    pub fn resume(&self) {
        self.signal("CONT");
        self.wait_for_state(false);
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

    fn signal(&self, name: &str) {
        assert!(
            self.child.is_some(),
            "MariaDB on port {} is not running",
            self.port
        );
        send_signal(self.pid, name)
            .unwrap_or_else(|e| panic!("kill -{name} {} failed: {e}", self.pid));
    }

    /// Waits until the process is (or is no longer) in the stopped state.
    fn wait_for_state(&self, stopped: bool) {
        let deadline = Instant::now() + SIGNAL_TIMEOUT;
        while process_stopped(self.pid) != Some(stopped) {
            if Instant::now() >= deadline {
                panic!(
                    "mariadbd process {} did not {} within {SIGNAL_TIMEOUT:?}",
                    self.pid,
                    if stopped { "stop" } else { "continue" }
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Shuts the server down cleanly (SIGTERM, also when paused) and waits
    /// for it to exit, killing it when that takes more than 30 seconds.
    /// Does nothing when it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            let _ = send_signal(self.pid, "CONT");
            let _ = send_signal(self.pid, "TERM");
            let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) {
                if Instant::now() >= deadline {
                    eprintln!(
                        "MariaDB on port {} did not shut down within {SHUTDOWN_TIMEOUT:?}; killing it",
                        self.port
                    );
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.wait();
    }

    /// SIGKILL (which also ends a paused server), ignoring errors.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- MariaDB log (port {}, {}) ---\n{}",
                self.port,
                self.log_path.display(),
                tail(&self.log_contents(), 60)
            );
        }
        // The data is thrown away, so there is no need for a clean shutdown.
        self.kill();
        if let Some(tmp) = self.tmp.take() {
            if std::env::var_os("SLUICE_KEEP_MARIADB_DIR").is_some() {
                let path = tmp.keep();
                eprintln!("keeping MariaDB directory {}", path.display());
            } else {
                drop(tmp);
            }
        }
    }
}

fn send_signal(pid: u32, name: &str) -> Result<(), String> {
    let out = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Whether process `pid` is stopped (state `T` in `/proc/<pid>/stat`);
/// `None` when it cannot be read.
fn process_stopped(pid: u32) -> Option<bool> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    Some(state == "T")
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

    #[test]
    #[should_panic(expected = "apt-get install mariadb-server mariadb-client")]
    fn missing_binary_panics_with_install_hint() {
        mariadb_bin("no-such-mariadb-tool");
    }

    #[test]
    fn server_handles_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MariaDbServer>();
    }
}
