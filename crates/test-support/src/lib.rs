//! Helpers that start real servers for sluice's tests: PostgreSQL 15
//! ([`PgServer`]), MariaDB 10.11 ([`MariaDbServer`], optionally as a primary and a
//! binlog replica), OpenBao ([`OpenBao`], Vault-API-compatible, whose database
//! secrets engine manages users of those servers), and sluice itself
//! ([`sluice::SluiceProcess`], the real binary with a real config file), and a
//! round-robin TCP forwarder ([`RoundRobin`]) standing in for a Service in front of
//! several replicas.
//!
//! Every server is private to a test: its own temporary directory and a free
//! loopback TCP port, so several can run at the same time, in the same process
//! or in different processes. Servers that refuse to run as root are started as
//! their own OS user when the tests run as root.
//!
//! All functions here are synchronous and may block for a few seconds; they
//! can be called from plain tests and from `#[tokio::test]` functions alike,
//! as long as nothing on the calling runtime thread has to make progress
//! while they run (they only talk to the servers directly). [`RoundRobin`] is the
//! exception: it runs on the caller's tokio runtime.
//!
//! Environment variables (each server module lists its own):
//! * `SLUICE_TEST_TMPDIR`: where the temporary directories are created
//!   (default: `/tmp`).

mod files;
mod ports;
mod process;
mod round_robin;
mod tls;

pub mod mariadb;
pub mod openbao;
pub mod postgres;
pub mod sluice;

pub use mariadb::MariaDbServer;
pub use openbao::{DynamicCreds, OpenBao, StaticCreds};
pub use ports::{free_port, wait_for_port};
pub use postgres::{
    connect, pg_bin, pgbench_bin, psql_bin, quote_ident, quote_literal, run_psql, try_connect,
    AuthMethod, PgOptions, PgServer, INSTALL_HINT, SUPERUSER, SUPERUSER_PASSWORD,
};
pub use round_robin::RoundRobin;
pub use tls::{make_tls_files, TlsFiles};
