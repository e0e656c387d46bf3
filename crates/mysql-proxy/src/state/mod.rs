//! Session state as sluice models it, shared by client sessions and server
//! connections: session variables, what a client's session holds independent of
//! the server connection serving it, and why a client keeps its server connection.
//! Below both `session/` and `server/`, so neither imports the other for it.

pub mod client;
pub mod pin;
pub mod vars;
