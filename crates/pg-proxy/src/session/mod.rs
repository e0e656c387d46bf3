//! A client session: the startup handshake and client authentication, then the relay
//! that moves messages between the client and a pooled server connection.

mod attached;
mod client_auth;
mod client_conn;
mod client_listing;
mod client_messages;
mod console_login;
mod error;
mod farewell;
mod idle_answers;
mod lifecycle;
mod login;
mod lost_transaction;
pub mod pipeline;
mod portals;
mod refusal;
mod relay;
mod resend;
mod server_gone;
mod server_messages;
mod startup;
mod startup_settings;
mod statements;
mod view;
mod view_change;

pub use startup::serve_client;
