//! Streaming standbys of a test server: a base backup of a running primary
//! (`pg_basebackup -R`) started as a hot standby that follows it over streaming
//! replication, waiting until a standby has replayed what its primary wrote, and
//! re-joining a server as the standby of a new primary after a switchover.

use std::fs;
use std::time::{Duration, Instant};

use super::auth::{SUPERUSER, SUPERUSER_PASSWORD};
use super::binaries::{pg_bin, server_command};
use super::psql::{conninfo_value, run_psql};
use super::server::PgServer;
use crate::files::tail;
use crate::ports::LOOPBACK;
use crate::process::{lock, run_checked};

/// How long a standby may take to stream from its primary, or to replay what the
/// primary wrote.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

impl PgServer {
    /// Starts a hot standby that follows `primary` by streaming replication, on a new
    /// free port, and returns once it streams and has replayed everything the primary
    /// had written. It is a base backup of `primary`, so it has the same roles,
    /// passwords, databases and rows, the same pg_hba.conf and the same options; with
    /// TLS on, it serves the primary's certificate (signed by the same CA, valid for
    /// `127.0.0.1`).
    pub fn start_standby_of(primary: &PgServer) -> PgServer {
        let mut standby = PgServer::prepare(primary.options.clone());
        if let Some(tls) = &primary.tls {
            let copy = tls.copy_into(&standby.root.join("tls"));
            copy.give_to_postgres();
            standby.tls = Some(copy);
        }
        standby.spawn_watchdog();
        standby.follow(primary, None);
        standby
    }

    /// Stops this server, throws its data away and starts it again, on the same
    /// port, as a streaming standby of `primary` (a fresh base backup): how a
    /// former primary re-joins its cluster after a switchover. Returns once it
    /// streams and has caught up.
    pub fn restart_as_standby_of(&mut self, primary: &PgServer) {
        let port = self.port;
        self.stop();
        if self.data_dir.exists() {
            fs::remove_dir_all(&self.data_dir)
                .unwrap_or_else(|e| panic!("remove {}: {e}", self.data_dir.display()));
        }
        self.follow(primary, Some(port));
    }

    /// Base backup of `primary` into the (absent) data directory, then start as its
    /// standby on `port` (a new free one when `None`).
    fn follow(&mut self, primary: &PgServer, port: Option<u16>) {
        let conninfo = format!(
            "host={LOOPBACK} port={} user={} password={} application_name=sluice_test_standby \
             connect_timeout=10",
            primary.port,
            conninfo_value(SUPERUSER),
            conninfo_value(SUPERUSER_PASSWORD),
        );
        let mut cmd = server_command(&pg_bin("pg_basebackup"), &self.root);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-d")
            .arg(&conninfo)
            .args([
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "--no-manifest",
            ]);
        run_checked(cmd, "pg_basebackup");
        *lock(&self.hba_users) = lock(&primary.hba_users).clone();
        self.launch_on(port);
        assert_eq!(
            self.psql("select pg_is_in_recovery()"),
            "t",
            "a base backup of port {} started as a primary",
            primary.port
        );
        self.wait_streaming(primary);
        self.wait_caught_up(primary);
    }

    /// Waits until the standby's WAL receiver streams from `primary`.
    fn wait_streaming(&self, primary: &PgServer) {
        let deadline = Instant::now() + REPLICATION_TIMEOUT;
        let query = format!(
            "select count(*) from pg_stat_wal_receiver \
             where status = 'streaming' and sender_port = {}",
            primary.port
        );
        while self.psql(&query) != "1" {
            if Instant::now() >= deadline {
                panic!(
                    "the standby on port {} did not stream from port {} within \
                     {REPLICATION_TIMEOUT:?}\n--- standby log (tail) ---\n{}\n\
                     --- primary log (tail) ---\n{}",
                    self.port,
                    primary.port,
                    tail(&self.log_contents(), 30),
                    tail(&primary.log_contents(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until this standby has replayed everything `primary` has written so far.
    /// The test servers commit with `synchronous_commit = off`, so a commit may not be
    /// flushed (nor sent) yet; a transaction that writes WAL (a transactional logical
    /// message) and commits synchronously on `primary` flushes all that came before
    /// it, and the standby must replay up to the primary's flush position after it.
    /// Panics after 30 seconds.
    pub fn wait_caught_up(&self, primary: &PgServer) {
        primary.psql(
            "set synchronous_commit = on; \
             select pg_logical_emit_message(true, 'sluice-test', 'caught up?')",
        );
        let target = primary.psql("select pg_current_wal_flush_lsn()");
        let query = format!(
            "select coalesce(pg_last_wal_replay_lsn() >= '{target}'::pg_lsn, false), \
             pg_last_wal_replay_lsn()"
        );
        let conninfo = self.superuser_connection_string();
        let deadline = Instant::now() + REPLICATION_TIMEOUT;
        loop {
            let answer = run_psql(&conninfo, &query);
            if answer.as_deref().is_ok_and(|a| a.starts_with("t|")) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the standby on port {} did not replay up to {target} of port {} within \
                     {REPLICATION_TIMEOUT:?} (last answer: {answer:?})\n\
                     --- standby log (tail) ---\n{}",
                    self.port,
                    primary.port,
                    tail(&self.log_contents(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server is in recovery (a standby), as it answers now.
    pub fn is_in_recovery(&self) -> bool {
        self.psql("select pg_is_in_recovery()") == "t"
    }
}
