//! Who is connected to this replica and what each connection is doing: the client
//! sessions of both protocols and the pooled server connections, for the console's
//! SHOW CLIENTS, SHOW SERVERS and KILL_CLIENT. An entry is registered once per
//! connection, never per query; while serving, a session only stores a few atomics
//! in its entry (its state, the server it holds, when its last request came).

mod client;
pub mod doorbell;
mod server;

use std::sync::atomic::{fence, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use tokio::sync::Notify;

use crate::shutdown::{Phase, Shutdown};

pub use client::{ClientEntry, ClientInfo, ClientListing, ClientState, KillSignal};
pub use server::{ServerEntry, ServerInfo, ServerListing, ServerState};

/// The connections of one replica, both protocols together: an id names one
/// connection for KILL_CLIENT whatever its protocol.
#[derive(Default)]
pub struct Activity {
    clients: DashMap<u64, Arc<ClientEntry>>,
    servers: DashMap<u64, Arc<ServerEntry>>,
    /// The last id given out; ids start at 1 and are never reused.
    last_id: AtomicU64,
    /// Rung when a server connection goes back to its pool or closes.
    returns: Arc<ReturnSignal>,
    /// What was rung to every client so far (draining, closing): a client listed
    /// later hears it too.
    rung_to_all: AtomicU8,
}

/// Wakes whoever waits for server connections to come back (PAUSE). Rung only while
/// someone waits, so a release costs one atomic load otherwise.
#[derive(Default)]
pub(crate) struct ReturnSignal {
    notify: Notify,
    watchers: AtomicUsize,
}

impl ReturnSignal {
    pub(crate) fn ring(&self) {
        // Orders the caller's state change before the look at the watchers, as
        // `until_returned` orders its count before its look at the states: one of the
        // two sees the other's write.
        fence(Ordering::SeqCst);
        if self.watchers.load(Ordering::Relaxed) > 0 {
            self.notify.notify_waiters();
        }
    }
}

impl Activity {
    fn next_id(&self) -> u64 {
        self.last_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Lists a client session until the returned listing is dropped.
    pub fn add_client(self: &Arc<Self>, info: ClientInfo) -> ClientListing {
        let entry = Arc::new(ClientEntry::new(self.next_id(), info));
        self.clients.insert(entry.id, entry.clone());
        // After the insert: a `ring_all` either finds the entry or has stored its bits
        // before this load (both SeqCst).
        let rung = self.rung_to_all.load(Ordering::SeqCst);
        if rung != 0 {
            entry.bell().ring(rung);
        }
        ClientListing::new(self.clone(), entry)
    }

    /// Lists a server connection until the returned listing is dropped.
    pub fn add_server(self: &Arc<Self>, info: ServerInfo) -> ServerListing {
        let entry = Arc::new(ServerEntry::new(self.next_id(), info, self.returns.clone()));
        self.servers.insert(entry.id, entry.clone());
        ServerListing::new(self.clone(), entry)
    }

    /// The client sessions now, oldest first.
    pub fn clients(&self) -> Vec<Arc<ClientEntry>> {
        let mut all: Vec<_> = self.clients.iter().map(|e| e.value().clone()).collect();
        all.sort_by_key(|c| c.id);
        all
    }

    /// The server connections now, oldest first.
    pub fn servers(&self) -> Vec<Arc<ServerEntry>> {
        let mut all: Vec<_> = self.servers.iter().map(|e| e.value().clone()).collect();
        all.sort_by_key(|s| s.id);
        all
    }

    pub fn client(&self, id: u64) -> Option<Arc<ClientEntry>> {
        self.clients.get(&id).map(|e| e.value().clone())
    }

    /// Returns once no server connection that `chosen` picks is checked out: each
    /// one back in its pool or closed. Woken by their return, not by polling.
    pub async fn until_returned(&self, chosen: impl Fn(&ServerEntry) -> bool) {
        let signal = &self.returns;
        signal.watchers.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let _watching = Unwatch(signal);
        loop {
            // Armed before looking, so a return in between is not missed.
            let notified = signal.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let busy = self.servers.iter().any(|s| {
                let s = s.value();
                s.state() == ServerState::Active && chosen(s)
            });
            if !busy {
                return;
            }
            notified.await;
        }
    }

    /// Rings `bits` on every client session's doorbell, now and as they are listed.
    pub fn ring_all(&self, bits: u8) {
        self.rung_to_all.fetch_or(bits, Ordering::SeqCst);
        for client in self.clients.iter() {
            client.value().bell().ring(bits);
        }
    }

    /// Rings every client session as the replica drains and as it closes; returns once
    /// it closes.
    pub async fn ring_on_shutdown(self: Arc<Self>, mut shutdown: Shutdown) {
        shutdown.reached(Phase::Draining).await;
        self.ring_all(doorbell::DRAINING);
        shutdown.reached(Phase::Closing).await;
        self.ring_all(doorbell::CLOSING);
    }

    fn remove_client(&self, id: u64) {
        self.clients.remove(&id);
    }

    fn remove_server(&self, id: u64) {
        self.servers.remove(&id);
    }
}

/// Stops counting a watcher when its wait ends, however it ends.
struct Unwatch<'a>(&'a ReturnSignal);

impl Drop for Unwatch<'_> {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Microseconds since the Unix epoch, as the entries keep times (0: never).
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A time kept as [`now_micros`] gives it, back as a time (`None` for never).
pub fn from_micros(micros: u64) -> Option<SystemTime> {
    (micros != 0).then(|| UNIX_EPOCH + std::time::Duration::from_micros(micros))
}

#[cfg(test)]
mod tests;
