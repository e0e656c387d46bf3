//! Private MariaDB 10.11 servers for tests.
//!
//! Every [`MariaDbServer`] is a private instance: its own temporary
//! directory holding the data directory, unix socket, pid file and log, and
//! a free loopback TCP port. The machine's own MariaDB (port 3306) is never
//! touched. Binary logging is always on, so that
//! [`MariaDbServer::start_replica_of`] can attach a replica that follows the
//! server by real binlog replication (GTID based).
//!
//! Environment variables:
//! * `SLUICE_MARIADB_BINDIR`: directory searched first for `mariadbd`,
//!   `mariadb-install-db` and `mariadb`.
//! * `SLUICE_KEEP_MARIADB_DIR`: when set, a server's directory (data and
//!   log) is kept after the server is dropped and its path is printed.

mod binaries;
mod client;
mod handle;
mod replication;
mod server;

pub use binaries::{mariadb_bin, MARIADB_INSTALL_HINT};
pub use client::{quote_ident, quote_string, run_mariadb};
pub use handle::APP_PRIVILEGES;
pub use replication::REPLICATION_USER;
pub use server::{MariaDbServer, MARIADB_SUPERUSER, MARIADB_SUPERUSER_PASSWORD};
