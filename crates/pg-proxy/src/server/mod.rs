//! Connections from sluice to PostgreSQL: opening them (TLS, startup, authentication,
//! primary check) and the state each one carries while pooled.

mod auth;
mod conn;
mod connect;
mod error;
mod messages;
mod owner_role;
mod simple_query;
mod statements;

pub use conn::{CancelTarget, ServerConn};
pub use connect::{connect, is_in_recovery, ConnectOptions, Endpoint};
pub use error::ServerError;
pub use messages::read_message;
pub use owner_role::{OwnerRole, OwnerRoleError};
pub use simple_query::{simple_query, QueryAnswer};
pub use statements::ServerStatements;
