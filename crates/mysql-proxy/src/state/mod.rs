//! Session state as sluice models it, shared by client sessions and server
//! connections: session variables, and what a client's session holds independent of
//! the server connection serving it. Below both `session/` and `server/`, so neither
//! imports the other for it.

pub mod client;
pub mod vars;
