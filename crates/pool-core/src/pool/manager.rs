//! What a pool needs from a protocol: how to open a connection, and when one must
//! be closed whatever its age.

use std::future::Future;

/// Opens connections for a [`Pool`](super::Pool). Closing a connection is dropping it.
pub trait Manager: Send + Sync + 'static {
    type Connection: Send + 'static;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Open a new connection (network I/O).
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Whether `conn` must be closed now whatever its age, e.g. because the lease of the
    /// credentials it was opened with is about to end. Asked whenever a connection comes
    /// back or is reused, with the pool's lock held: keep it cheap. When it answers true
    /// the pool closes the connection and opens a replacement in the background.
    fn must_retire(&self, _conn: &Self::Connection, _now: std::time::Instant) -> bool {
        false
    }

    /// Lists a new pool connection for SHOW SERVERS (see [`crate::activity`]); the
    /// listing lives as long as the connection. None: not listed.
    fn list(&self, _conn: &Self::Connection) -> Option<crate::activity::ServerListing> {
        None
    }

    /// A connection checked out for `held` came back (or was closed). For metrics:
    /// runs on every release, so keep it to an atomic update.
    fn released(&self, _held: std::time::Duration) {}
}
