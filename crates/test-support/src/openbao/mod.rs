//! Private OpenBao (Vault-API-compatible) dev servers for tests, with their
//! database secrets engine configured against a [`PgServer`](crate::PgServer) or a
//! [`MariaDbServer`](crate::MariaDbServer).
//!
//! Every [`OpenBao`] is a private `bao server -dev`: in-memory storage, a free
//! loopback port, its own root token and a log file in a temporary
//! directory. Several servers can run at the same time. The helpers drive the
//! server through the `bao` command line (`BAO_ADDR`/`BAO_TOKEN` are set for
//! every call, any `BAO_*`/`VAULT_*` variables of the environment are
//! removed), so everything here is synchronous, like the rest of the crate.
//!
//! Environment variables:
//! * `SLUICE_BAO_BIN`: path of the `bao` binary (default: `bao` on `PATH`,
//!   then `$(python3 -m site --user-base)/bin/bao`).

mod auth;
mod binary;
mod cli;
mod database;
mod server;

pub use binary::{bao_bin, BAO_INSTALL_HINT};
pub use database::{DynamicCreds, StaticCreds, MYSQL_PLUGIN, POSTGRES_PLUGIN};
pub use server::OpenBao;
