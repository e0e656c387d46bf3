//! What every client session of a listener shares, whatever the protocol: the
//! routes and client authentication (swapped whole on reload), the TLS
//! configuration, the client and handshake limits and the set of running sessions.

mod accept;
mod admission;
mod core;
mod handshakes;
mod sessions;

pub use accept::accept_until_draining;
pub use admission::{Admission, ClientSlot, CountsClients, RouteClients};
pub use core::FrontendCore;
pub use handshakes::{
    HandshakeRefusal, HandshakeSlot, Handshakes, DEFAULT_MAX_HANDSHAKES,
    DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
};
pub use sessions::Sessions;
