//! Session state that both the client sessions and the server connections carry: the
//! session settings that follow a client from server to server, and the route's shared
//! prepared statements. It sits below `session/` and `server/` so neither imports the
//! other for it.

pub mod encoding_names;
pub mod pin;
pub mod settings;
pub mod statements;
