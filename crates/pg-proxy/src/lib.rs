//! PostgreSQL side of sluice: the wire codec, client sessions, server connections,
//! transaction pooling with prepared-statement renaming, and cancel mapping.

pub mod auth;
pub mod cancel;
pub mod console;
pub mod frontend;
pub mod listener;
pub mod metrics;
pub mod protocol;
pub mod route;
pub mod server;
pub mod session;
pub mod sql;
pub mod state;
pub mod watcher;

/// The transport lives in pool-core, shared with the MySQL side.
pub use pool_core::net::{stream, tls};
