//! The checked-out connection handle.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::conn::Conn;
use super::manager::Manager;
use super::shared::Shared;
use crate::activity::ServerEntry;

/// A connection checked out of a [`Pool`](super::Pool). Dropping it returns the
/// connection: straight to the oldest waiter if anyone is queued, else to the idle list.
/// Dropping needs no async context.
pub struct PooledConnection<M: Manager> {
    shared: Arc<Shared<M>>,
    conn: Option<Conn<M::Connection>>,
    waited: Duration,
    checked_out: Instant,
}

impl<M: Manager> PooledConnection<M> {
    pub(crate) fn new(shared: Arc<Shared<M>>, conn: Conn<M::Connection>, waited: Duration) -> Self {
        if let Some(listing) = &conn.listing {
            listing.lent();
        }
        PooledConnection {
            shared,
            conn: Some(conn),
            waited,
            checked_out: Instant::now(),
        }
    }

    fn conn(&self) -> &Conn<M::Connection> {
        self.conn.as_ref().expect("connection present until drop")
    }

    /// Closes the connection instead of returning it, e.g. when its protocol state is
    /// unknown. If callers are waiting, a replacement is opened for them.
    pub fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.manager.released(self.checked_out.elapsed());
            self.shared.discard(conn);
        }
    }

    /// When the connection was opened.
    pub fn created_at(&self) -> Instant {
        self.conn().created_at
    }

    /// Its entry in SHOW SERVERS, for the session to say which client it serves.
    pub fn listing(&self) -> Option<&ServerEntry> {
        self.conn().listing.as_deref()
    }

    /// How long `get()` took to produce this connection (queueing and connecting).
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl<M: Manager> Deref for PooledConnection<M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.conn().raw
    }
}

impl<M: Manager> DerefMut for PooledConnection<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self
            .conn
            .as_mut()
            .expect("connection present until drop")
            .raw
    }
}

impl<M: Manager> Drop for PooledConnection<M> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.manager.released(self.checked_out.elapsed());
            if std::thread::panicking() {
                // The session panicked mid-use: nothing vouches for the connection's
                // state (a transaction, half a reply), so no other client gets it.
                self.shared.discard(conn);
            } else {
                self.shared.give_back(conn);
            }
        }
    }
}

impl<M: Manager> fmt::Debug for PooledConnection<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("created_at", &self.conn.as_ref().map(|c| c.created_at))
            .field("waited", &self.waited)
            .finish_non_exhaustive()
    }
}
