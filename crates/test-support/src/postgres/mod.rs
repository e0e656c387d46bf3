//! Private PostgreSQL 15 servers for tests.
//!
//! Every [`PgServer`] is a private cluster: its own temporary directory, data
//! directory, unix socket directory, log file and a free loopback TCP port.
//! Several servers can run at the same time, in the same process or in
//! different processes.
//!
//! Environment variables:
//! * `SLUICE_PG_BINDIR`: directory holding the PostgreSQL binaries
//!   (default: `pg_config --bindir`, then `/usr/lib/postgresql/15/bin`).
//! * `SLUICE_KEEP_PG_DIR`: when set, a server's directory (data and log) is
//!   kept after the server is dropped and its path is printed.

pub(crate) mod auth;
pub(crate) mod binaries;
mod client;
mod config_files;
mod handle;
pub(crate) mod psql;
pub(crate) mod server;
mod standby;

pub use auth::{AuthMethod, SUPERUSER, SUPERUSER_PASSWORD};
pub use binaries::{pg_bin, pgbench_bin, psql_bin, INSTALL_HINT};
pub use client::{connect, try_connect};
pub use psql::{quote_ident, quote_literal, run_psql};
pub use server::{PgOptions, PgServer};
