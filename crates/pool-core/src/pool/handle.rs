//! The pool handle: checkouts (idle first, then opening within `max_size`, then the
//! FIFO queue), status, configuration changes and closing. Cloning is cheap.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::config::{PoolConfig, PoolStatus};
use super::error::PoolError;
use super::guard::PooledConnection;
use super::manager::Manager;
use super::open::Opening;
use super::shared::Shared;
use super::waiters::Handoff;
use super::waiting::{Outcome, Waiting};

/// A connection pool. Cloning is cheap and clones share the same connections.
pub struct Pool<M: Manager> {
    shared: Arc<Shared<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// What `get()` does after one look at the state.
enum Step<M: Manager> {
    Idle(super::shared::Reused<M>),
    ClosedExpired(super::shared::Reused<M>),
    Open,
    Wait {
        id: u64,
        rx: tokio::sync::oneshot::Receiver<Handoff<M>>,
        timeout: Duration,
        spawn: usize,
    },
}

impl<M: Manager> Pool<M> {
    /// Creates an empty pool; connections are opened on demand (and by maintenance, see
    /// [`Pool::spawn_maintenance`], to keep `min_idle`).
    pub fn new(manager: M, config: PoolConfig) -> Self {
        Pool {
            shared: Arc::new(Shared::new(manager, config)),
        }
    }

    /// Checks out a connection: an idle one if any, else a new one if there is room,
    /// else the first one to come back after the callers queued before this one, waiting
    /// up to `checkout_timeout`.
    pub async fn get(&self) -> Result<PooledConnection<M>, PoolError<M::Error>> {
        let started = Instant::now();
        loop {
            let step = {
                let mut st = self.shared.lock();
                if st.closed {
                    return Err(PoolError::Closed);
                }
                match self.immediate_step(&mut st, started) {
                    Some(step) => step,
                    None => {
                        let timeout = st.config.checkout_timeout;
                        let (id, rx) = st.waiters.push();
                        let spawn = st.reserve_for_waiters();
                        Step::Wait {
                            id,
                            rx,
                            timeout,
                            spawn,
                        }
                    }
                }
            };
            match step {
                Step::Idle(idle) => return Ok(self.guard(idle.conn, started)),
                Step::ClosedExpired(idle) => drop(idle),
                Step::Open => {
                    let conn = Opening::direct(&self.shared).connect_direct().await?;
                    return Ok(self.guard(conn, started));
                }
                Step::Wait {
                    id,
                    rx,
                    timeout,
                    spawn,
                } => {
                    self.shared.remember_runtime();
                    self.shared.spawn_opens(spawn);
                    let deadline = started
                        .checked_add(timeout)
                        .unwrap_or_else(|| started + Duration::from_secs(86_400 * 365));
                    let waiting = Waiting::new(&self.shared, id, rx);
                    return match waiting.until(deadline).await {
                        Outcome::Served(Handoff::Conn(conn)) => Ok(self.guard(conn, started)),
                        Outcome::Served(Handoff::Failed(error)) => Err(PoolError::Connect(error)),
                        Outcome::TimedOut => Err(PoolError::Timeout(timeout)),
                        Outcome::Closed => Err(PoolError::Closed),
                    };
                }
            }
        }
    }

    /// Checks out a connection only if that needs no waiting: an idle one, or a new one
    /// when there is room and nobody is queued. `None` when the caller would have to wait.
    pub async fn try_get(&self) -> Option<Result<PooledConnection<M>, PoolError<M::Error>>> {
        let started = Instant::now();
        loop {
            let step = {
                let mut st = self.shared.lock();
                if st.closed {
                    return Some(Err(PoolError::Closed));
                }
                self.immediate_step(&mut st, started)?
            };
            match step {
                Step::Idle(idle) => return Some(Ok(self.guard(idle.conn, started))),
                Step::ClosedExpired(idle) => drop(idle),
                Step::Open => {
                    let opened = Opening::direct(&self.shared).connect_direct().await;
                    return Some(opened.map(|conn| self.guard(conn, started)));
                }
                Step::Wait { .. } => unreachable!("immediate steps never wait"),
            }
        }
    }

    /// What a checkout can do without queueing, with the state locked.
    fn immediate_step(
        &self,
        st: &mut super::shared::State<M>,
        started: Instant,
    ) -> Option<Step<M>> {
        if !st.waiters.is_empty() {
            // Queued callers come first.
            return None;
        }
        if let Some(idle) = st.idle.pop() {
            if self.shared.past_due(&idle.conn, started) {
                st.size -= 1;
                Some(Step::ClosedExpired(idle))
            } else {
                st.in_use += 1;
                Some(Step::Idle(idle))
            }
        } else if st.size < st.config.max_size {
            st.reserve_direct();
            Some(Step::Open)
        } else {
            None
        }
    }

    fn guard(
        &self,
        conn: super::conn::Conn<M::Connection>,
        started: Instant,
    ) -> PooledConnection<M> {
        PooledConnection::new(Arc::clone(&self.shared), conn, started.elapsed())
    }

    /// A snapshot of the pool's counters.
    pub fn status(&self) -> PoolStatus {
        self.shared.lock().status()
    }

    /// Replaces the configuration. A smaller `max_size` closes surplus idle connections
    /// now and surplus checked-out ones as they come back; a larger one opens connections
    /// for queued callers. Lifetimes of open connections are kept.
    pub fn set_config(&self, config: PoolConfig) {
        let (surplus, spawn) = {
            let mut st = self.shared.lock();
            st.config = config;
            let over = st.size.saturating_sub(st.config.max_size);
            let surplus = st.take_oldest_idle(over);
            (surplus, st.reserve_for_waiters())
        };
        drop(surplus);
        self.shared.spawn_opens(spawn);
    }

    /// Closes every idle connection `keep` answers false for (e.g. those to a server
    /// that is no longer the primary); checked-out ones are left to their users.
    /// Maintenance opens replacements up to `min_idle` on its next pass. Returns how
    /// many were closed.
    /// Closes the idle connections, and each checked-out one when it comes back, so
    /// that the pool goes on with connections opened from now on; how many idle ones
    /// were closed.
    pub fn reconnect(&self) -> usize {
        self.shared.lock().reconnect_before = Some(Instant::now());
        self.retain_idle(|_| false)
    }

    pub fn retain_idle(&self, mut keep: impl FnMut(&M::Connection) -> bool) -> usize {
        let closing: Vec<_> = {
            let mut st = self.shared.lock();
            // Partitioning keeps the idle list's order (least recently used first).
            let (kept, closing) = std::mem::take(&mut st.idle)
                .into_iter()
                .partition(|idle| keep(&idle.conn.raw));
            st.idle = kept;
            st.size -= closing.len();
            closing
        };
        let closed = closing.len();
        drop(closing);
        if closed > 0 {
            // Room to open others, for callers waiting in another shard.
            self.shared.signal_freed();
        }
        closed
    }

    /// The connection manager.
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }

    /// Drains the pool: idle connections are closed now, checked-out ones when they come
    /// back, queued and future `get()` calls fail with [`PoolError::Closed`].
    pub fn close(&self) {
        let (idle, waiters) = {
            let mut st = self.shared.lock();
            st.closed = true;
            st.size -= st.idle.len();
            (std::mem::take(&mut st.idle), st.waiters.take_all())
        };
        drop(waiters);
        drop(idle);
    }

    /// Makes the pool wake `freed` whenever a connection comes back or a slot frees up.
    pub(crate) fn signal_freed_to(&self, freed: Arc<tokio::sync::Notify>) {
        let _ = self.shared.freed.set(freed);
    }

    /// Whether [`Pool::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Spawns the maintenance task, run every `every`: closes idle connections past their
    /// lifetime or idle timeout (keeping `min_idle`), closes surplus idle connections
    /// after a shrink and opens connections up to `min_idle`. It holds only a weak
    /// reference and ends once the pool is closed or dropped. Must be called within a
    /// Tokio runtime.
    pub fn spawn_maintenance(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        self.shared.remember_runtime();
        tokio::spawn(super::maintenance::run(Arc::downgrade(&self.shared), every))
    }
}
