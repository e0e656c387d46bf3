//! A generic, protocol-agnostic async connection pool.
//!
//! * Checkouts are served in strict arrival order: a connection that comes back while
//!   callers wait goes straight to the oldest one, and a newcomer never takes an idle
//!   connection ahead of a queued caller.
//! * `max_size` bounds every open connection, including those being opened.
//! * Connections closed while callers wait (discarded, expired) are replaced by opens
//!   spawned on the queue's behalf.
//! * All state sits behind one mutex that is never held across an `.await`.

mod config;
mod conn;
mod error;
mod guard;
mod handle;
mod hold;
mod maintenance;
mod manager;
mod open;
mod pause;
mod sharded;
mod shared;
mod waiters;
mod waiting;

pub use config::{PoolConfig, PoolStatus};
pub use error::PoolError;
pub use guard::PooledConnection;
pub use handle::Pool;
pub use hold::{hold_while_unavailable, Held};
pub use manager::Manager;
pub use pause::PauseGate;
pub use sharded::ShardedPool;
