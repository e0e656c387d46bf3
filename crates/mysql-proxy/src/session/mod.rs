//! One client's session: the handshake, then its commands, each relayed to a server
//! connection that the session holds for as long as its pooling mode requires.

mod checkout;
pub mod client_auth;
mod client_session;
mod commands;
mod failure;
mod lost_transaction;
mod relay;
mod run;
mod serve;
mod sync;

pub use client_session::SessionEnd;
pub use serve::serve_client;
