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
    /// Whether it can serve on.
    pub health: ServerHealth,
}

/// Whether a checked-out server connection can serve on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ServerHealth {
    /// Usable, and reusable once the exchange on it is settled.
    Sound,
    /// Must not be reused: its protocol state is unknown, or the connection was lost.
    Broken,
    /// The server sent a FATAL error, relayed to the client, and is closing the
    /// connection: the session ends as a direct one would, with no error of sluice's.
    Ending,
    /// The server went away and the session outlives it (`server_gone.rs`): the client
    /// was answered for it, or its request goes to the next server.
    Lost,
}

impl Attached {
    pub fn new(conn: ServerGuard) -> Self {
        Self {
            conn,
            passthrough: 0,
            copy_in: false,
            health: ServerHealth::Sound,
        }
    }

    /// The server broke the protocol: it is not reused, and the session ends.
    pub fn protocol_error(&mut self, msg: String) -> SessionError {
        self.health = ServerHealth::Broken;
        SessionError::ServerProtocol(msg)
    }

    /// Not to be reused.
    pub fn is_unusable(&self) -> bool {
        self.health != ServerHealth::Sound
    }
}

/// How the server went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// It sent FATAL admin_shutdown, crash_shutdown or cannot_connect_now (the server
    /// stops), or a connection failure: whatever came before it was all it ran.
    Stopping,
    /// Writing the request to it failed: it read none of it.
    Unwritable,
    /// The connection closed or broke: what it ran is unknown.
    Closed,
}
