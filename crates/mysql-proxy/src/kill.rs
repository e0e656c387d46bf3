//! Carrying out `KILL [QUERY|CONNECTION] <id>` (read by `sql/classify.rs`) and
//! COM_PROCESS_KILL: clients see connection ids sluice gave them, and a kill reaches
//! only the server connection serving that client at that moment.
//! A session holds its slot's lock while it changes server connection, and a kill
//! holds it while the KILL runs, so a kill never lands on a connection that has
//! moved on to another client. A connection id's high bits name the replica that gave
//! it out (`pool_core::peers`): a kill of another replica's client, sent to this one
//! by the Service, is carried out by that replica, with the same ownership check.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use pool_core::peers::{Outcome, PeerSet, ReplicaId, Request};
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
    /// Counts up through the id's low bits.
    next: AtomicU32,
    /// This replica's id, in every connection id it gives out.
    me: ReplicaId,
    /// Where kills of other replicas' clients go.
    peers: Option<Arc<PeerSet>>,
}

/// Removes the client's slot when its session ends.
pub type Registration = pool_core::session_keys::Registration<u32, KillSlot>;

impl Default for KillRegistry {
    /// A replica on its own.
    fn default() -> Self {
        Self::new(ReplicaId::random_avoiding(&[]), None)
    }
}

impl KillRegistry {
    pub fn new(me: ReplicaId, peers: Option<Arc<PeerSet>>) -> Self {
        // Start somewhere random so ids of successive sluice runs differ.
        Self {
            slots: Arc::default(),
            next: AtomicU32::new(rand::random::<u32>()),
            me,
            peers,
        }
    }

    /// A fresh connection id for a new client.
    pub fn next_id(&self) -> u32 {
        loop {
            let id = self.me.embed(self.next.fetch_add(1, Ordering::Relaxed));
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

    /// Carries out a kill issued by `user`, here or at the replica that gave out
    /// `target`. `connection` also ends the client's session.
    pub async fn kill(&self, user: &str, target: u32, connection: bool) -> Result<(), ErrPacket> {
        let owner = ReplicaId::of(target);
        let Some(peers) = self.peers.as_ref().filter(|_| owner != self.me) else {
            return self.kill_local(user, target, connection).await;
        };
        let request = Request::Kill {
            connection_id: target,
            user: user.to_owned(),
            connection,
        };
        let refused = match peers.forward(owner, request).await {
            Outcome::Done | Outcome::Idle => return Ok(()),
            Outcome::Unknown => KillError::UnknownThread,
            Outcome::Refused => KillError::NotOwner,
            Outcome::Failed => KillError::Unreachable,
        };
        Err(refused.packet(target))
    }

    /// [`kill_here`](Self::kill_here), as the client is told.
    async fn kill_local(&self, user: &str, target: u32, connection: bool) -> Result<(), ErrPacket> {
        self.kill_here(user, target, connection)
            .await
            .map_err(|e| e.packet(target))
    }

    /// Carries out a kill of a client of this replica's, never forwarding it.
    pub async fn kill_here(
        &self,
        user: &str,
        target: u32,
        connection: bool,
    ) -> Result<(), KillError> {
        let slot = self.slots.get(target).ok_or(KillError::UnknownThread)?;
        if slot.user != user {
            return Err(KillError::NotOwner);
        }
        carry_out(&slot, connection).await
    }

    /// Stops what a client of this replica runs on its server now (an administrator's
    /// KILL_CLIENT; the session itself ends on its own signal).
    pub async fn interrupt(&self, target: u32) -> Result<(), KillError> {
        let slot = self.slots.get(target).ok_or(KillError::UnknownThread)?;
        carry_out(&slot, false).await
    }
}

/// KILL QUERY on the server connection serving the client now, if any; with
/// `connection`, the session is told to end too.
async fn carry_out(slot: &KillSlot, connection: bool) -> Result<(), KillError> {
    let serving = slot.serving.hold().await;
    if let Some(s) = *serving {
        let manager = slot.route.pools[s.member].manager();
        if let Err(e) = kill_query(manager, s.thread_id).await {
            tracing::warn!(route = %slot.route.name, error = %e, "KILL QUERY on the server failed");
            return Err(KillError::Unreachable);
        }
    }
    if connection {
        slot.closing.store(true, Ordering::Relaxed);
        slot.close_requested.notify_one();
    }
    drop(serving);
    Ok(())
}

/// Why a kill was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillError {
    UnknownThread,
    /// The connection is another sluice user's.
    NotOwner,
    /// The server could not be reached to kill the query.
    Unreachable,
}

impl KillError {
    /// The error MySQL gives for it.
    pub fn packet(self, target: u32) -> ErrPacket {
        match self {
            KillError::UnknownThread => {
                ErrPacket::new(1094, "HY000", format!("Unknown thread id: {target}"))
            }
            KillError::NotOwner => ErrPacket::new(
                1095,
                "HY000",
                format!("You are not owner of thread {target}"),
            ),
            KillError::Unreachable => ErrPacket::new(
                1094,
                "HY000",
                format!("could not reach the server to kill thread {target}"),
            ),
        }
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
