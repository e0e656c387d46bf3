//! A client session as SHOW CLIENTS shows it, and its doorbell (KILL_CLIENT, draining,
//! closing).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use super::doorbell::{Doorbell, Rung, KILLED};
use super::{now_micros, Activity};

/// What is known of a client when its session starts.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// `postgres` or `mysql`.
    pub protocol: &'static str,
    pub user: String,
    /// The route's name.
    pub database: String,
    pub peer: SocketAddr,
    pub tls: bool,
    /// PostgreSQL's `application_name` at startup (empty without one).
    pub application_name: String,
    /// The id the client itself was told: PostgreSQL's cancel-key process id, MySQL's
    /// connection id.
    pub wire_id: u32,
}

/// What a client is doing, with PgBouncer's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Connected, between transactions.
    Idle,
    /// Waiting for a server connection.
    Waiting,
    /// Holding a server connection.
    Active,
}

impl ClientState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientState::Idle => "idle",
            ClientState::Waiting => "waiting",
            ClientState::Active => "active",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => ClientState::Waiting,
            2 => ClientState::Active,
            _ => ClientState::Idle,
        }
    }
}

pub struct ClientEntry {
    /// This replica's id of the connection (KILL_CLIENT's argument).
    pub id: u64,
    pub info: ClientInfo,
    pub connected_at: SystemTime,
    state: AtomicU8,
    /// The server connection's id while it holds one, else 0.
    server: AtomicU64,
    /// When its latest request came (micros since the epoch).
    request_at: AtomicU64,
    /// Since when it waits for a server connection.
    wait_since: AtomicU64,
    /// Rung on a kill (KILL_CLIENT, KILL) and as the replica drains and closes.
    bell: Doorbell,
}

impl ClientEntry {
    pub(super) fn new(id: u64, info: ClientInfo) -> Self {
        Self {
            id,
            info,
            connected_at: SystemTime::now(),
            state: AtomicU8::new(0),
            server: AtomicU64::new(0),
            request_at: AtomicU64::new(0),
            wait_since: AtomicU64::new(0),
            bell: Doorbell::default(),
        }
    }

    pub fn state(&self) -> ClientState {
        ClientState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// The id of the server connection it holds.
    pub fn server(&self) -> Option<u64> {
        Some(self.server.load(Ordering::Relaxed)).filter(|&id| id != 0)
    }

    /// A request came and needs a server connection: the wait starts now.
    pub fn waiting(&self) {
        let now = now_micros();
        self.request_at.store(now, Ordering::Relaxed);
        self.wait_since.store(now, Ordering::Relaxed);
        self.state.store(1, Ordering::Relaxed);
    }

    /// It holds server connection `server` now.
    pub fn serving(&self, server: u64) {
        self.server.store(server, Ordering::Relaxed);
        self.wait_since.store(0, Ordering::Relaxed);
        self.state.store(2, Ordering::Relaxed);
    }

    /// Back between transactions, without a server connection.
    pub fn idle(&self) {
        self.server.store(0, Ordering::Relaxed);
        self.wait_since.store(0, Ordering::Relaxed);
        self.state.store(0, Ordering::Relaxed);
    }

    /// A request came on the server connection it holds.
    pub fn requested(&self) {
        self.request_at.store(now_micros(), Ordering::Relaxed);
    }

    /// When its latest request came (micros since the epoch, 0 for never).
    pub fn request_at(&self) -> u64 {
        self.request_at.load(Ordering::Relaxed)
    }

    /// Since when it waits for a server connection (micros, 0 when not waiting).
    pub fn wait_since(&self) -> u64 {
        self.wait_since.load(Ordering::Relaxed)
    }

    /// Asks the session to end (KILL_CLIENT): it tells its client and closes at its
    /// next step, and a server connection it leaves mid-transaction is not reused as is.
    pub fn kill(&self) {
        self.bell.ring(KILLED);
    }

    /// What the session waits on besides its own I/O: a kill, draining, closing.
    pub fn bell(&self) -> &Doorbell {
        &self.bell
    }

    pub fn is_killed(&self) -> bool {
        self.bell.is_rung(KILLED)
    }

    /// Resolves once the session is asked to end.
    pub fn killed(&self) -> Rung<'_> {
        self.bell.rung(KILLED)
    }
}

/// Resolves once the session is asked to end; owns its hold on the entry, so it can be
/// kept across the session's waits without borrowing it.
pub struct KillSignal {
    entry: Arc<ClientEntry>,
}

impl Future for KillSignal {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut rung = self.entry.killed();
        Pin::new(&mut rung).poll(cx)
    }
}

/// Keeps a client listed while its session lasts.
pub struct ClientListing {
    activity: Arc<Activity>,
    entry: Arc<ClientEntry>,
}

impl ClientListing {
    pub(super) fn new(activity: Arc<Activity>, entry: Arc<ClientEntry>) -> Self {
        Self { activity, entry }
    }

    /// [`ClientEntry::killed`], owned.
    pub fn kill_signal(&self) -> KillSignal {
        KillSignal {
            entry: self.entry.clone(),
        }
    }
}

impl std::ops::Deref for ClientListing {
    type Target = ClientEntry;

    fn deref(&self) -> &ClientEntry {
        &self.entry
    }
}

impl Drop for ClientListing {
    fn drop(&mut self) {
        self.activity.remove_client(self.entry.id);
    }
}
