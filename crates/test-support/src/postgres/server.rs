//! The lifecycle of a private PostgreSQL 15 server: `initdb` in a temporary
//! directory, start on a free port (retrying when another process took it first),
//! restart as a standby, promote, stop, and clean up on drop — also when the test
//! binary is killed, through a watchdog.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::auth::{AuthMethod, SUPERUSER, SUPERUSER_PASSWORD};
use super::binaries::{
    bindir_candidates, clean_pg_env, give_to_postgres, pg_bin, psql_bin, required_postgres_os_user,
    runuser_bin, server_command,
};
use crate::files::{
    is_executable, make_tempdir, removal_script, remove_unless_kept, set_mode,
    show_log_if_panicking,
};
use crate::ports::{free_port, LOOPBACK};
use crate::process::{run_checked, running_as_root, shell_quote, Watchdog};
use crate::tls::{write_tls_files, TlsFiles};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 5;
/// When set, a server's directory is kept after the server is dropped.
const KEEP_DIR_VAR: &str = "SLUICE_KEEP_PG_DIR";

/// Options for [`PgServer::start_with`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Enable TLS (`ssl = on`) with a certificate signed by a fresh test CA.
    pub tls: bool,
    /// `max_connections` of the server.
    pub max_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            tls: false,
            max_connections: 200,
        }
    }
}

/// A running PostgreSQL server private to a test. Dropping it stops the
/// server and removes its directory.
pub struct PgServer {
    pub(super) port: u16,
    pub(super) options: PgOptions,
    pub(super) root: PathBuf,
    pub(super) data_dir: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) log_path: PathBuf,
    pub(super) tls: Option<TlsFiles>,
    /// Roles with a pg_hba.conf line of their own, in the order they were made.
    pub(super) hba_users: Mutex<Vec<(String, AuthMethod)>>,
    pub(super) running: bool,
    pub(super) watchdog: Option<Watchdog>,
    pub(super) tmp: Option<TempDir>,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("options", &self.options)
            .field("dir", &self.root)
            .field("running", &self.running)
            .finish()
    }
}

impl PgServer {
    /// Starts a server with [`PgOptions::default`].
    pub fn start() -> PgServer {
        PgServer::start_with(PgOptions::default())
    }

    /// Starts a server. Panics (showing the server log) when it does not
    /// become ready within 30 seconds.
    pub fn start_with(options: PgOptions) -> PgServer {
        let initdb = pg_bin("initdb");
        let mut server = PgServer::prepare(options);
        server.init_cluster(&initdb);

        if server.options.tls {
            let tls = write_tls_files(&server.root.join("tls"), &[]);
            tls.give_to_postgres();
            server.tls = Some(tls);
        }

        server.write_hba(&[]);
        server.spawn_watchdog();
        server.launch();
        server
    }

    /// A server that is not running yet: its temporary directory with the socket
    /// directory and the log file in it, but no data directory.
    pub(super) fn prepare(options: PgOptions) -> PgServer {
        pg_bin("pg_ctl");
        pg_bin("postgres");
        psql_bin();
        if running_as_root() {
            required_postgres_os_user();
        }

        let tmp = make_tempdir("sluice-pg-");
        let root = tmp.path().to_path_buf();
        set_mode(&root, 0o755);
        give_to_postgres(&root);

        let server = PgServer {
            port: 0,
            options,
            data_dir: root.join("data"),
            socket_dir: root.join("sock"),
            log_path: root.join("postgresql.log"),
            root,
            tls: None,
            hba_users: Mutex::new(Vec::new()),
            running: false,
            watchdog: None,
            tmp: Some(tmp),
        };

        fs::create_dir(&server.socket_dir)
            .unwrap_or_else(|e| panic!("create {}: {e}", server.socket_dir.display()));
        give_to_postgres(&server.socket_dir);

        // The log file is created here so that it is readable even before
        // the server writes to it.
        fs::write(&server.log_path, b"").expect("create log file");
        set_mode(&server.log_path, 0o644);
        give_to_postgres(&server.log_path);
        server
    }

    fn init_cluster(&self, initdb: &Path) {
        let pwfile = self.root.join("superuser.pw");
        fs::write(&pwfile, format!("{SUPERUSER_PASSWORD}\n")).expect("write password file");
        set_mode(&pwfile, 0o600);
        give_to_postgres(&pwfile);

        let mut cmd = server_command(initdb, &self.root);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-U")
            .arg(SUPERUSER)
            .arg(format!("--pwfile={}", pwfile.display()))
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ]);
        run_checked(cmd, "initdb");
        let _ = fs::remove_file(&pwfile);

        let conf = self.data_dir.join("postgresql.conf");
        let mut main_conf = fs::read_to_string(&conf).expect("read postgresql.conf");
        main_conf.push_str("\ninclude 'sluice_test.conf'\n");
        fs::write(&conf, main_conf).expect("write postgresql.conf");
    }

    /// Starts a helper that stops the server and removes its directory if
    /// this process goes away without dropping the `PgServer` (for example
    /// when the test binary is killed). It waits for end-of-file on a pipe
    /// whose write end only this process holds.
    pub(super) fn spawn_watchdog(&mut self) {
        let pg_ctl = pg_bin("pg_ctl");
        let stop = if running_as_root() {
            format!(
                "{} -u postgres -- {}",
                shell_quote(&runuser_bin().to_string_lossy()),
                shell_quote(&pg_ctl.to_string_lossy())
            )
        } else {
            shell_quote(&pg_ctl.to_string_lossy())
        };
        let remove = removal_script(&self.root, KEEP_DIR_VAR);
        let script = format!(
            "if [ -f {pid} ]; then {stop} -D {data} stop -m immediate -w -t 30; fi; {remove}",
            pid = shell_quote(&self.data_dir.join("postmaster.pid").to_string_lossy()),
            data = shell_quote(&self.data_dir.to_string_lossy()),
        );
        let mut cmd = Watchdog::command(&script);
        clean_pg_env(&mut cmd);
        self.watchdog = Watchdog::spawn(cmd);
    }

    /// Starts the server on a new free port.
    pub(super) fn launch(&mut self) {
        self.launch_on(None);
    }

    /// Starts the server on `port`, or on a new free port when `None` (retrying
    /// with another one when another process took it first).
    pub(super) fn launch_on(&mut self, port: Option<u16>) {
        let pg_ctl = pg_bin("pg_ctl");
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.port = port.unwrap_or_else(free_port);
            self.write_settings();
            let log_before = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0);

            let mut cmd = server_command(&pg_ctl, &self.root);
            cmd.arg("start")
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&self.log_path)
                .arg("-w")
                .arg("-t")
                .arg(STARTUP_TIMEOUT.as_secs().to_string());
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", pg_ctl.display()));
            self.running = true;
            if out.status.success() {
                break;
            }
            let log = self.log_contents();
            let new_log = log.get(log_before as usize..).unwrap_or(&log);
            let port_taken = new_log.contains("Address already in use")
                || new_log.contains("could not create any TCP/IP sockets");
            self.kill_immediately();
            if port_taken && attempt < START_ATTEMPTS {
                if port.is_some() {
                    std::thread::sleep(Duration::from_millis(500));
                }
                continue;
            }
            panic!(
                "PostgreSQL did not start (port {}, dir {}):\n--- pg_ctl ---\n{}{}\n--- server log ---\n{}",
                self.port,
                self.root.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                log
            );
        }

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let pg_isready = pg_bin("pg_isready");
        loop {
            let mut cmd = Command::new(&pg_isready);
            clean_pg_env(&mut cmd);
            let ready = cmd
                .args(["-q", "-t", "2", "-h", LOOPBACK, "-p"])
                .arg(self.port.to_string())
                .args(["-U", SUPERUSER, "-d", "postgres"])
                .stdin(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "PostgreSQL on port {} did not accept connections within {:?}:\n--- server log ---\n{}",
                    self.port,
                    STARTUP_TIMEOUT,
                    self.log_contents()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Restarts the server as a standby that replicates from nothing (a
    /// `standby.signal` file and no `primary_conninfo`), on a new port. See
    /// [`PgServer::start_standby_of`] for a streaming standby.
    pub fn restart_as_standby(&mut self) {
        self.stop();
        let signal = self.data_dir.join("standby.signal");
        fs::write(&signal, b"").unwrap_or_else(|e| panic!("write {}: {e}", signal.display()));
        give_to_postgres(&signal);
        self.launch();
        assert_eq!(self.psql("select pg_is_in_recovery()"), "t");
    }

    /// Promotes a standby to primary (`pg_ctl promote`, waiting until it is done).
    pub fn promote(&self) {
        let mut cmd = server_command(&pg_bin("pg_ctl"), &self.root);
        cmd.arg("promote")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "30"]);
        run_checked(cmd, "pg_ctl promote");
        assert_eq!(self.psql("select pg_is_in_recovery()"), "f");
    }

    /// Stops the server (fast shutdown) and waits for it to exit.
    /// Does nothing when it is not running.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let mut cmd = server_command(&pg_bin("pg_ctl"), &self.root);
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "30"]);
        let stopped = cmd.output().map(|o| o.status.success()).unwrap_or(false);
        if !stopped {
            self.kill_immediately();
        }
        self.running = false;
    }

    /// Immediate shutdown, ignoring errors.
    fn kill_immediately(&mut self) {
        if self.data_dir.join("postmaster.pid").exists() {
            if let Some(pg_ctl) = bindir_candidates()
                .iter()
                .map(|d| d.join("pg_ctl"))
                .find(|p| is_executable(p))
            {
                let mut cmd = server_command(&pg_ctl, &self.root);
                cmd.arg("stop")
                    .arg("-D")
                    .arg(&self.data_dir)
                    .args(["-m", "immediate", "-w", "-t", "30"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                let _ = cmd.status();
            }
        }
        self.running = false;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        drop(self.watchdog.take());
        show_log_if_panicking("PostgreSQL", &format!("port {}", self.port), &self.log_path);
        self.kill_immediately();
        remove_unless_kept(self.tmp.take(), KEEP_DIR_VAR, "PostgreSQL");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_handles_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PgServer>();
    }
}
