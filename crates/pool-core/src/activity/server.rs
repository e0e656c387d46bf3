//! A pooled server connection as SHOW SERVERS shows it. The pool marks it lent and
//! returned; the session that holds it says which client it serves.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use super::{now_micros, Activity, ReturnSignal};

/// What is known of a server connection once it is open.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `postgres` or `mysql`.
    pub protocol: &'static str,
    /// The database user it logged in as (a Vault-generated name, for dynamic roles).
    pub user: String,
    /// The route it serves.
    pub database: String,
    pub addr: SocketAddr,
    pub local: Option<SocketAddr>,
    /// The server's id of the connection: PostgreSQL's backend pid, MySQL's thread id.
    pub remote_pid: u32,
    pub tls: bool,
}

/// What a server connection is doing, with PgBouncer's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// In the pool, ready for a client.
    Idle,
    /// Checked out, serving a client.
    Active,
}

impl ServerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Idle => "idle",
            ServerState::Active => "active",
        }
    }
}

pub struct ServerEntry {
    pub id: u64,
    pub info: ServerInfo,
    pub connected_at: SystemTime,
    active: AtomicU8,
    /// The client's id while one holds it, else 0.
    client: AtomicU64,
    /// When it was last lent (micros since the epoch).
    lent_at: AtomicU64,
    returns: Arc<ReturnSignal>,
}

impl ServerEntry {
    pub(super) fn new(id: u64, info: ServerInfo, returns: Arc<ReturnSignal>) -> Self {
        Self {
            id,
            info,
            connected_at: SystemTime::now(),
            active: AtomicU8::new(0),
            client: AtomicU64::new(0),
            lent_at: AtomicU64::new(0),
            returns,
        }
    }

    pub fn state(&self) -> ServerState {
        match self.active.load(Ordering::Relaxed) {
            0 => ServerState::Idle,
            _ => ServerState::Active,
        }
    }

    /// The id of the client it serves.
    pub fn client(&self) -> Option<u64> {
        Some(self.client.load(Ordering::Relaxed)).filter(|&id| id != 0)
    }

    /// When it was last lent to a client (micros since the epoch, 0 for never).
    pub fn lent_at(&self) -> u64 {
        self.lent_at.load(Ordering::Relaxed)
    }

    /// Checked out of the pool.
    pub fn lent(&self) {
        self.lent_at.store(now_micros(), Ordering::Relaxed);
        self.active.store(1, Ordering::Relaxed);
    }

    /// It serves client `client` (from [`ClientEntry::id`](super::ClientEntry)).
    pub fn serves(&self, client: u64) {
        self.client.store(client, Ordering::Relaxed);
    }

    /// Back in the pool.
    pub fn returned(&self) {
        self.client.store(0, Ordering::Relaxed);
        self.active.store(0, Ordering::Relaxed);
        self.returns.ring();
    }
}

/// Keeps a server connection listed while it is open.
pub struct ServerListing {
    activity: Arc<Activity>,
    entry: Arc<ServerEntry>,
}

impl ServerListing {
    pub(super) fn new(activity: Arc<Activity>, entry: Arc<ServerEntry>) -> Self {
        Self { activity, entry }
    }
}

impl std::ops::Deref for ServerListing {
    type Target = ServerEntry;

    fn deref(&self) -> &ServerEntry {
        &self.entry
    }
}

impl Drop for ServerListing {
    fn drop(&mut self) {
        self.activity.remove_server(self.entry.id);
        self.entry.returns.ring();
    }
}
