//! What every client session of a listener shares, whatever the protocol: the
//! routes and client authentication (swapped whole on reload), the TLS
//! configuration, the client limits and the set of running sessions.

mod accept;
mod admission;
mod core;
mod sessions;

pub use accept::accept_until_draining;
pub use admission::{Admission, ClientSlot, CountsClients, RouteClients};
pub use core::FrontendCore;
pub use sessions::Sessions;
