//! A MariaDB replica that follows a test server by real GTID binlog replication,
//! waiting until it has applied what its primary has written, and moving the
//! writable role from a primary to its replica as an operator does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::client::{client_command, quote_string, Target};
use super::server::MariaDbServer;
use crate::files::tail;
use crate::ports::LOOPBACK;

/// Account a replica uses to read its primary's binlog.
pub const REPLICATION_USER: &str = "sluice_repl";
const REPLICATION_PASSWORD: &str = "sluice-test-repl-pw";
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

impl MariaDbServer {
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
        replica.sql(&replicate_from(primary));
        replica.wait_replication_running(primary);
        replica.wait_replicated(primary);
        replica
    }

    /// Moves the writable role from `primary` to `replica` (one started by
    /// [`MariaDbServer::start_replica_of`] on `primary`), as an operator's
    /// switchover does: `read_only` on `primary`; wait until `replica` has applied
    /// all it binlogged; `STOP SLAVE; RESET SLAVE ALL` and `read_only = OFF` on
    /// `replica`; then `primary` replicates from `replica` (GTID, from the position
    /// `replica` had when it took over). Returns once `primary`'s replication
    /// threads run. Application accounts get error 1290 on `primary` from the first
    /// step on, and can write on `replica` from the fourth.
    pub fn switch_writable(primary: &MariaDbServer, replica: &MariaDbServer) {
        primary.set_read_only(true);
        replica.wait_replicated(primary);
        replica.sql(&format!(
            "STOP SLAVE; RESET SLAVE ALL; SET SESSION sql_log_bin = 0; \
             CREATE USER IF NOT EXISTS {user}@'%' IDENTIFIED BY {pw}; \
             GRANT REPLICATION SLAVE ON *.* TO {user}@'%';",
            user = quote_string(REPLICATION_USER),
            pw = quote_string(REPLICATION_PASSWORD),
        ));
        // Taken before any write of the new primary: the old one replays all of them.
        let position = replica.sql("SELECT @@GLOBAL.gtid_binlog_pos");
        replica.set_read_only(false);
        primary.sql(&format!(
            "SET GLOBAL gtid_slave_pos = {}; {}",
            quote_string(&position),
            replicate_from(replica)
        ));
        primary.wait_replication_running(replica);
    }

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
}

/// `CHANGE MASTER TO` `primary` by GTID (from the replica's `gtid_slave_pos`) and
/// `START SLAVE`.
fn replicate_from(primary: &MariaDbServer) -> String {
    format!(
        "CHANGE MASTER TO MASTER_HOST={host}, MASTER_PORT={port}, MASTER_USER={user}, \
         MASTER_PASSWORD={pw}, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; \
         START SLAVE;",
        host = quote_string(primary.host()),
        port = primary.port(),
        user = quote_string(REPLICATION_USER),
        pw = quote_string(REPLICATION_PASSWORD),
    )
}
