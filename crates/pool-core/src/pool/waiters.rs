//! The FIFO queue of callers waiting for a connection.

use std::collections::VecDeque;

use tokio::sync::oneshot;

use super::conn::Conn;
use super::manager::Manager;

/// What the pool hands to a waiter.
pub(crate) enum Handoff<M: Manager> {
    Conn(Conn<M::Connection>),
    /// A connection opened on the waiter's behalf failed.
    Failed(M::Error),
}

struct Waiter<M: Manager> {
    id: u64,
    tx: oneshot::Sender<Handoff<M>>,
}

/// Waiters in arrival order. Ids increase monotonically, so the queue stays sorted by id
/// and a waiter that gives up can be found by binary search.
pub(crate) struct Waiters<M: Manager> {
    queue: VecDeque<Waiter<M>>,
    next_id: u64,
}

impl<M: Manager> Waiters<M> {
    pub(crate) fn new() -> Self {
        Waiters {
            queue: VecDeque::new(),
            next_id: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a new waiter at the back.
    pub(crate) fn push(&mut self) -> (u64, oneshot::Receiver<Handoff<M>>) {
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.queue.push_back(Waiter { id, tx });
        (id, rx)
    }

    /// Removes a waiter that gave up. Returns false when it is no longer queued, i.e. it
    /// was already served.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        match self.queue.binary_search_by_key(&id, |w| w.id) {
            Ok(i) => {
                self.queue.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Hands a connection to the oldest waiter still listening; gives it back when
    /// nobody is.
    pub(crate) fn give_conn(
        &mut self,
        conn: Conn<M::Connection>,
    ) -> Result<(), Conn<M::Connection>> {
        let mut item = Handoff::Conn(conn);
        while let Some(waiter) = self.queue.pop_front() {
            match waiter.tx.send(item) {
                Ok(()) => return Ok(()),
                Err(back) => item = back,
            }
        }
        match item {
            Handoff::Conn(conn) => Err(conn),
            Handoff::Failed(_) => unreachable!("only a connection was sent"),
        }
    }

    /// Hands a connect error to the oldest waiter still listening; gives it back when
    /// nobody is.
    pub(crate) fn give_error(&mut self, error: M::Error) -> Result<(), M::Error> {
        let mut item = Handoff::Failed(error);
        while let Some(waiter) = self.queue.pop_front() {
            match waiter.tx.send(item) {
                Ok(()) => return Ok(()),
                Err(back) => item = back,
            }
        }
        match item {
            Handoff::Failed(error) => Err(error),
            Handoff::Conn(_) => unreachable!("only an error was sent"),
        }
    }

    /// Empties the queue; every waiter sees its sender dropped, which means "closed".
    pub(crate) fn take_all(&mut self) -> VecDeque<impl Sized> {
        std::mem::take(&mut self.queue)
    }
}
