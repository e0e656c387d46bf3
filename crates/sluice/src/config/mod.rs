//! The configuration file (TOML): its shape, loading, and validation. Every option is
//! documented in docs/configuration.md; examples/sluice.toml is an annotated example.
//!
//! One file per section (`common`, `postgres`, `mysql`, `vault`) and per block both
//! protocol sections share (`cluster`, `database`, `credentials`, `client_auth`);
//! `validated` puts the sections together; `template` turns a section's wildcard route
//! into the routes it declares.

mod client_auth;
mod cluster;
mod collector;
mod common;
mod credentials;
mod database;
pub mod duration;
mod file;
mod mysql;
mod peers;
mod postgres;
mod template;
mod validated;
mod vault;

pub use cluster::ClusterSettings;
pub use common::LogFormat;
pub use credentials::CredentialSettings;
pub use database::DatabaseSettings;
pub use mysql::{MysqlDbSettings, MysqlRouteSettings, MysqlSettings};
pub use peers::PeersSettings;
pub use postgres::{PgDbSettings, PgRouteSettings, PgSettings};
pub use validated::{load, Validated};
