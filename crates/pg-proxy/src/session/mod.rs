//! A client session: the startup handshake and client authentication, then the relay
//! that moves messages between the client and a pooled server connection.

mod client_auth;
mod client_messages;
mod idle_answers;
mod lifecycle;
pub mod pipeline;
mod portals;
mod relay;
mod server_messages;
pub mod settings;
mod startup;
pub mod statements;
mod view_change;

pub use startup::serve_client;
