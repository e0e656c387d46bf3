//! MySQL side of sluice: the wire codec, client sessions with authentication, server
//! connections, transaction-level multiplexing with session-state tracking and
//! statement-id mapping, KILL mapping, and routing to cluster members by role.

pub mod auth;
pub mod frontend;
pub mod io;
pub mod kill;
pub mod listener;
pub mod members;
pub mod metrics;
pub mod protocol;
pub mod route;
pub mod server;
pub mod session;
pub mod sql;
pub mod state;
