//! Cancel keys. Each client gets a BackendKeyData with a secret made up by sluice (and,
//! in session mode, its server's process id); a CancelRequest
//! with that key is forwarded to the server connection serving the client at that
//! moment, and to nothing else. The secret's high bits name the replica that made it
//! (`pool_core::peers`): a CancelRequest that reached another replica of the same
//! Deployment is forwarded to that one. The slot's lock is held while the cancel is delivered,
//! so the connection cannot be handed to another client in between (pool-core's
//! `session_keys` keeps the keys and that lock).

use std::sync::Arc;
use std::time::Duration;

use pool_core::peers::{Outcome, PeerSet, ReplicaId, Request};
use pool_core::session_keys::{KeyRegistry, Serving};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::protocol::startup::encode_cancel;
use crate::server::CancelTarget;

/// One client's key and the server connection currently serving it.
#[derive(Debug)]
pub struct CancelSlot {
    pub process_id: i32,
    pub secret_key: i32,
    target: Serving<CancelTarget>,
}

impl CancelSlot {
    /// Points cancels at a server connection (on attach) or at nothing (before release).
    pub async fn set_target(&self, target: Option<CancelTarget>) {
        self.target.set(target).await;
    }
}

/// Cancel keys by process id.
pub struct CancelRegistry {
    slots: Arc<KeyRegistry<i32, CancelSlot>>,
    /// This replica's id, in every secret it makes.
    me: ReplicaId,
    /// Where keys of other replicas go.
    peers: Option<Arc<PeerSet>>,
}

impl Default for CancelRegistry {
    /// A replica on its own.
    fn default() -> Self {
        Self::new(ReplicaId::random_avoiding(&[]), None)
    }
}

/// Removes the slot when the client session ends.
pub type Registration = pool_core::session_keys::Registration<i32, CancelSlot>;

#[derive(Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    Sent,
    /// The client is between transactions: nothing to cancel.
    Idle,
    UnknownKey,
    Failed,
}

impl CancelRegistry {
    pub fn new(me: ReplicaId, peers: Option<Arc<PeerSet>>) -> Self {
        Self {
            slots: Arc::default(),
            me,
            peers,
        }
    }

    /// A key for a new client: `process_id` when given and free (a session-mode
    /// client is told its server's own process id), else one made up. The secret part
    /// is always sluice's own, so a cancel still comes through sluice.
    pub fn register(&self, process_id: Option<i32>) -> Registration {
        let mut rng = rand::thread_rng();
        let secret_key = self.me.embed(rng.gen()) as i32;
        let make = |process_id| {
            move || CancelSlot {
                process_id,
                secret_key,
                target: Serving::default(),
            }
        };
        if let Some(registration) =
            process_id.and_then(|pid| self.slots.try_register(pid, make(pid)))
        {
            return registration;
        }
        loop {
            let pid = rng.gen_range(1..i32::MAX);
            if let Some(registration) = self.slots.try_register(pid, make(pid)) {
                return registration;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Handles a CancelRequest from a client: here, or at the peer that made the key.
    pub async fn cancel(&self, process_id: i32, secret_key: i32) -> CancelOutcome {
        let owner = ReplicaId::of(secret_key as u32);
        match &self.peers {
            Some(peers) if owner != self.me => {
                let request = Request::Cancel {
                    process_id,
                    secret_key,
                };
                match peers.forward(owner, request).await {
                    Outcome::Done => CancelOutcome::Sent,
                    Outcome::Idle => CancelOutcome::Idle,
                    Outcome::Unknown | Outcome::Refused => CancelOutcome::UnknownKey,
                    Outcome::Failed => CancelOutcome::Failed,
                }
            }
            _ => self.cancel_here(process_id, secret_key).await,
        }
    }

    /// Carries out a CancelRequest for a key of this replica's, never forwarding it.
    pub async fn cancel_here(&self, process_id: i32, secret_key: i32) -> CancelOutcome {
        let slot = self.slots.get(process_id);
        let Some(slot) = slot.filter(|s| constant_time_eq(s.secret_key, secret_key)) else {
            return CancelOutcome::UnknownKey;
        };
        let guard = slot.target.hold().await;
        let Some(target) = *guard else {
            return CancelOutcome::Idle;
        };
        let outcome = match tokio::time::timeout(Duration::from_secs(5), deliver(target)).await {
            Ok(Ok(())) => CancelOutcome::Sent,
            _ => CancelOutcome::Failed,
        };
        drop(guard);
        outcome
    }
}

/// Sends the CancelRequest and waits for the server to close the connection, which it
/// does once the signal reached the backend.
pub(crate) async fn deliver(target: CancelTarget) -> std::io::Result<()> {
    let mut s = TcpStream::connect(target.addr).await?;
    s.write_all(&encode_cancel(target.process_id, target.secret_key))
        .await?;
    let mut sink = [0u8; 16];
    while s.read(&mut sink).await? > 0 {}
    Ok(())
}

fn constant_time_eq(a: i32, b: i32) -> bool {
    crate::auth::constant_time_eq(&a.to_be_bytes(), &b.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_unique_and_removed_on_drop() {
        let reg = CancelRegistry::default();
        let a = reg.register(None);
        let b = reg.register(None);
        assert_ne!(a.slot.process_id, b.slot.process_id);
        assert_eq!(reg.len(), 2);
        assert_eq!(
            reg.cancel(a.slot.process_id, a.slot.secret_key).await,
            CancelOutcome::Idle
        );
        assert_eq!(
            reg.cancel(a.slot.process_id, a.slot.secret_key.wrapping_add(1))
                .await,
            CancelOutcome::UnknownKey
        );
        drop(a);
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn every_secret_names_this_replica() {
        let me = ReplicaId::new(321).unwrap();
        let reg = CancelRegistry::new(me, None);
        for _ in 0..50 {
            let key = reg.register(None);
            assert_eq!(ReplicaId::of(key.slot.secret_key as u32), me);
        }
    }

    #[test]
    fn a_given_process_id_is_used_once() {
        let reg = CancelRegistry::default();
        let a = reg.register(Some(4242));
        assert_eq!(a.slot.process_id, 4242);
        // Taken (two clusters can share a process id): a made-up one instead.
        let b = reg.register(Some(4242));
        assert_ne!(b.slot.process_id, 4242);
    }
}
