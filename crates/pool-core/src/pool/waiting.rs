//! The waiting side of a checkout: one caller queued for a connection, until it is
//! served, times out, or the pool closes.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::manager::Manager;
use super::shared::Shared;
use super::waiters::Handoff;

/// How a wait in the queue ended.
pub(crate) enum Outcome<M: Manager> {
    Served(Handoff<M>),
    TimedOut,
    Closed,
}

/// A queued caller. If it is dropped before being served (the `get()` future was
/// cancelled), it leaves the queue, and a connection that was already handed to it goes
/// back to the pool instead of being lost.
pub(crate) struct Waiting<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    id: u64,
    rx: oneshot::Receiver<Handoff<M>>,
    pending: bool,
}

impl<'a, M: Manager> Waiting<'a, M> {
    pub(crate) fn new(
        shared: &'a Arc<Shared<M>>,
        id: u64,
        rx: oneshot::Receiver<Handoff<M>>,
    ) -> Self {
        Waiting {
            shared,
            id,
            rx,
            pending: true,
        }
    }

    pub(crate) async fn until(mut self, deadline: Instant) -> Outcome<M> {
        let result = tokio::time::timeout_at(deadline, &mut self.rx).await;
        self.pending = false;
        match result {
            Ok(Ok(handoff)) => Outcome::Served(handoff),
            // Senders are only dropped unsent when the pool is closed.
            Ok(Err(_)) => Outcome::Closed,
            Err(_) => match self.leave() {
                // Served in the same instant the timer fired: take it.
                Some(handoff) => Outcome::Served(handoff),
                None if self.shared.lock().closed => Outcome::Closed,
                None => Outcome::TimedOut,
            },
        }
    }

    /// Leaves the queue. When already dequeued, whatever was sent is in the channel:
    /// hand-offs happen under the state lock, so it is there by the time the lock is
    /// released.
    fn leave(&mut self) -> Option<Handoff<M>> {
        if self.shared.lock().waiters.remove(self.id) {
            return None;
        }
        self.rx.try_recv().ok()
    }
}

impl<M: Manager> Drop for Waiting<'_, M> {
    fn drop(&mut self) {
        if !self.pending {
            return;
        }
        self.pending = false;
        match self.leave() {
            Some(Handoff::Conn(conn)) => self.shared.give_back(conn),
            Some(Handoff::Failed(error)) => {
                tracing::debug!(%error, "connect failed for a caller that stopped waiting");
            }
            None => {}
        }
    }
}
