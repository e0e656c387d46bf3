//! Carrying out `KILL [QUERY|CONNECTION] <id>` (read by `sql/classify.rs`) and
//! COM_PROCESS_KILL: clients see connection ids sluice gave them, and a kill reaches
//! only the server connection serving that client at that moment.
//! A session holds its slot's lock while it changes server connection, and a kill
//! holds it while the KILL runs, so a kill never lands on a connection that has
//! moved on to another client.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use pool_core::session_keys::{KeyRegistry, Serving as ServingLock};
use tokio::sync::Notify;

use crate::protocol::ok_err::ErrPacket;
use crate::route::{MemberManager, Route};
use crate::server::ServerError;

/// The server connection a client is using: which member, and its thread id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serving {
    pub member: usize,
    pub thread_id: u32,
}

pub struct KillSlot {
    pub id: u32,
    pub user: String,
    pub route: Arc<Route>,
    serving: ServingLock<Serving>,
    closing: AtomicBool,
    pub close_requested: Notify,
}

impl KillSlot {
    /// Records (or clears) the server connection serving the client. Waits for a
    /// kill in progress to finish first.
    pub async fn set_serving(&self, serving: Option<Serving>) {
        self.serving.set(serving).await;
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }
}

/// Connection ids by id.
pub struct KillRegistry {
    slots: Arc<KeyRegistry<u32, KillSlot>>,
    next: AtomicU32,
}

/// Removes the client's slot when its session ends.
pub type Registration = pool_core::session_keys::Registration<u32, KillSlot>;

impl Default for KillRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl KillRegistry {
    pub fn new() -> Self {
        // Start somewhere random so ids of successive sluice runs differ.
        Self {
            slots: Arc::default(),
            next: AtomicU32::new(rand::random::<u32>() >> 8),
        }
    }

    /// A fresh connection id for a new client.
    pub fn next_id(&self) -> u32 {
        loop {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            if id != 0 && !self.slots.contains(id) {
                return id;
            }
        }
    }

    /// Registers a client under `id` (from [`next_id`](Self::next_id)); should the id
    /// be taken meanwhile, under the next free one.
    pub fn register(&self, id: u32, user: &str, route: Arc<Route>) -> Registration {
        let mut id = id;
        loop {
            let make = || KillSlot {
                id,
                user: user.to_owned(),
                route: route.clone(),
                serving: ServingLock::default(),
                closing: AtomicBool::new(false),
                close_requested: Notify::new(),
            };
            if let Some(registration) = self.slots.try_register(id, make) {
                return registration;
            }
            id = self.next_id();
        }
    }

    /// Carries out a kill issued by `user`. `connection` also ends the client's session.
    pub async fn kill(&self, user: &str, target: u32, connection: bool) -> Result<(), ErrPacket> {
        let slot = self
            .slots
            .get(target)
            .ok_or_else(|| ErrPacket::new(1094, "HY000", format!("Unknown thread id: {target}")))?;
        if slot.user != user {
            return Err(ErrPacket::new(
                1095,
                "HY000",
                format!("You are not owner of thread {target}"),
            ));
        }
        let serving = slot.serving.hold().await;
        if let Some(s) = *serving {
            let manager = slot.route.pools[s.member].manager();
            if let Err(e) = kill_query(manager, s.thread_id).await {
                tracing::warn!(route = %slot.route.name, error = %e, "KILL QUERY on the server failed");
                return Err(ErrPacket::new(
                    1094,
                    "HY000",
                    format!("could not reach the server to kill thread {target}"),
                ));
            }
        }
        if connection {
            slot.closing.store(true, Ordering::Relaxed);
            slot.close_requested.notify_one();
        }
        drop(serving);
        Ok(())
    }
}

/// `KILL QUERY <thread_id>` on a member, over a connection of its own: a pooled one
/// could be the very one being killed, or be unavailable.
async fn kill_query(manager: &MemberManager, thread_id: u32) -> Result<(), ServerError> {
    let mut conn = manager.open().await?;
    let result = conn.execute(&format!("KILL QUERY {thread_id}")).await;
    conn.quit().await;
    result.map(|_| ())
}
