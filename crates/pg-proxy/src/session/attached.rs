//! The server connection a client holds between a checkout and a release, with what is
//! under way on it. It exists only while a server is checked out, so code that needs a
//! server takes one of these rather than looking for it.

use std::sync::Arc;

use pool_core::pool::PooledConnection;

use super::error::SessionError;
use crate::route::PgManager;

/// A server connection of the route's pool, checked as still open.
pub(super) type ServerGuard = PooledConnection<Arc<PgManager>>;

/// A checked-out server connection and the state of the exchange on it.
pub(super) struct Attached {
    pub conn: ServerGuard,
    /// Bytes of a streamed server message still to forward.
    pub passthrough: usize,
    /// The server is in copy-in mode and the client has not ended the COPY yet.
    pub copy_in: bool,
    /// The server must not be reused (fatal error, broken state).
    pub broken: bool,
}

impl Attached {
    pub fn new(conn: ServerGuard) -> Self {
        Self {
            conn,
            passthrough: 0,
            copy_in: false,
            broken: false,
        }
    }

    /// The server broke the protocol: it is not reused, and the session ends.
    pub fn protocol_error(&mut self, msg: String) -> SessionError {
        self.broken = true;
        SessionError::ServerProtocol(msg)
    }
}
