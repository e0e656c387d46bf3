//! The lifecycle of a private MariaDB 10.11 server: system tables in a temporary
//! directory, start on a free port (retrying when another process took it first)
//! with binary logging on, the superuser secured, clean shutdown, and clean-up on
//! drop — also when the test binary is killed, through a watchdog.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::binaries::{clean_mysql_env, give_to_mysql, mariadb_bin, required_mysql_os_user};
use super::client::{client_command, quote_string, run_client, Target};
use crate::files::{
    make_tempdir, removal_script, remove_unless_kept, set_mode, show_log_if_panicking,
};
use crate::ports::{free_port, LOOPBACK};
use crate::process::{running_as_root, send_signal, Watchdog};

/// Name of the superuser account (`root`, reachable as `root@localhost`,
/// `root@127.0.0.1` and `root@%`).
pub const MARIADB_SUPERUSER: &str = "root";
/// Password of the superuser account of every test server.
pub const MARIADB_SUPERUSER_PASSWORD: &str = "sluice-test-root-pw";

const MAX_CONNECTIONS: u32 = 500;
pub(super) const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 5;
/// When set, a server's directory is kept after the server is dropped.
const KEEP_DIR_VAR: &str = "SLUICE_KEEP_MARIADB_DIR";

/// A running MariaDB server private to a test. Dropping it stops the server
/// and removes its directory, also when the test panics.
pub struct MariaDbServer {
    pub(super) port: u16,
    pub(super) server_id: u32,
    pub(super) read_only_at_start: bool,
    pub(super) root: PathBuf,
    pub(super) data_dir: PathBuf,
    pub(super) socket_path: PathBuf,
    pub(super) log_path: PathBuf,
    /// The `mariadbd` process while it runs.
    pub(super) child: Option<Child>,
    pub(super) pid: u32,
    pub(super) watchdog: Option<Watchdog>,
    pub(super) tmp: Option<TempDir>,
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

    /// Starts a server, `read_only` for a replica.
    pub(super) fn start_server(read_only: bool) -> MariaDbServer {
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
        let remove = removal_script(&self.root, KEEP_DIR_VAR);
        let script = format!("kill -KILL {} 2>/dev/null; {remove}", self.pid);
        self.watchdog = Watchdog::spawn(Watchdog::command(&script));
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
        drop(self.watchdog.take());
        show_log_if_panicking("MariaDB", &format!("port {}", self.port), &self.log_path);
        // The data is thrown away, so there is no need for a clean shutdown.
        self.kill();
        remove_unless_kept(self.tmp.take(), KEEP_DIR_VAR, "MariaDB");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_handles_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MariaDbServer>();
    }
}
