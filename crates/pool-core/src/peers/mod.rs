//! Replicas of one sluice Deployment acting as one service for the requests that reach
//! the wrong replica: a PostgreSQL CancelRequest and a MySQL `KILL` arrive on a new
//! connection, which the Kubernetes Service may hand to any replica. Every key a
//! replica gives out carries its [`ReplicaId`]; a replica that receives a key of
//! another forwards the request to that peer over the peer channel, an authenticated
//! request/reply on its own port (`wire.rs`, `server.rs`), and the peer carries it out
//! locally, never forwarding it again, so no request can loop.
//!
//! Peers come from a static list or a headless Service's DNS name, looked up again
//! every refresh (`set.rs`); a replica forwards only to addresses found so.

mod identity;
mod server;
mod set;
mod wire;

pub use identity::{ReplicaId, REPLICA_ID_BITS};
pub use server::{serve, PeerHandler};
pub use set::{Discovery, PeerError, PeerSet, PeerSettings};
pub use wire::{Outcome, Request};
