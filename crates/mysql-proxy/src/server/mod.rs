//! Connections from sluice to MySQL servers: opening and authenticating them, and the
//! session state sluice keeps track of on each.

mod conn;
mod connect;
mod error;
mod statements;

pub use conn::ServerConn;
pub use connect::{connect, ConnectOptions, Endpoint};
pub use error::ServerError;
pub use statements::{ServerStatement, ServerStatements};
