//! State shared by a pool's handles, guards and background tasks, and the transitions
//! that keep its counters consistent.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::runtime::Handle;
use tokio::time::Instant;

use super::config::{PoolConfig, PoolStatus};
use super::conn::{Conn, Idle};
use super::manager::Manager;
use super::waiters::Waiters;

pub(crate) struct Shared<M: Manager> {
    pub(crate) manager: M,
    state: Mutex<State<M>>,
    /// Runtime to spawn on when a connection is returned outside of any runtime context.
    runtime: OnceLock<Handle>,
    /// Woken whenever a connection comes back or a slot frees up, for callers of a
    /// sharded pool that wait in another shard and may take it from here.
    pub(crate) freed: OnceLock<Arc<tokio::sync::Notify>>,
}

/// Everything behind the lock. Invariants:
/// * `size == idle.len() + in_use + opening`, and `size <= config.max_size` except after
///   a shrink, until surplus connections come back;
/// * `background <= opening` counts opens done by spawned tasks, whose result goes to the
///   queue (or the idle list) rather than to a particular caller;
/// * while anyone waits, `idle` is empty: a connection coming back goes to a waiter first.
pub(crate) struct State<M: Manager> {
    pub(crate) config: PoolConfig,
    pub(crate) idle: Vec<Idle<M::Connection>>,
    pub(crate) waiters: Waiters<M>,
    pub(crate) size: usize,
    pub(crate) in_use: usize,
    pub(crate) opening: usize,
    pub(crate) background: usize,
    pub(crate) closed: bool,
    /// Connections opened up to then are closed when they come back (RECONNECT).
    pub(crate) reconnect_before: Option<Instant>,
}

impl<M: Manager> State<M> {
    pub(crate) fn status(&self) -> PoolStatus {
        PoolStatus {
            size: self.size,
            idle: self.idle.len(),
            in_use: self.in_use,
            waiting: self.waiters.len(),
            opening: self.opening,
        }
    }

    /// Reserves a slot for a connection opened by the caller itself.
    pub(crate) fn reserve_direct(&mut self) {
        self.size += 1;
        self.opening += 1;
    }

    /// Reserves up to `wanted` slots for background opens, within `max_size`. Returns how
    /// many were reserved; the caller must spawn that many opens.
    pub(crate) fn reserve_background(&mut self, wanted: usize) -> usize {
        if self.closed {
            return 0;
        }
        let n = wanted.min(self.config.max_size.saturating_sub(self.size));
        self.size += n;
        self.opening += n;
        self.background += n;
        n
    }

    /// Makes sure every waiter has an open in flight when there is room for one, e.g.
    /// after a slot was freed or `max_size` grew.
    pub(crate) fn reserve_for_waiters(&mut self) -> usize {
        let uncovered = self.waiters.len().saturating_sub(self.background);
        self.reserve_background(uncovered)
    }

    /// Puts a connection that counts in `size` (and nowhere else) back into service:
    /// to the oldest waiter, else to the idle list. Returns it when it must be closed
    /// instead (pool closed or above `max_size`); the caller drops it outside the lock.
    pub(crate) fn checkin(
        &mut self,
        conn: Conn<M::Connection>,
        now: Instant,
    ) -> Option<Conn<M::Connection>> {
        if self.closed || self.size > self.config.max_size {
            self.size -= 1;
            return Some(conn);
        }
        if let Some(listing) = &conn.listing {
            // Between clients: a waiter handed it stays active (its transaction comes
            // next, which PAUSE must wait for); one put in the idle list is idle.
            listing.serves(0);
        }
        match self.waiters.give_conn(conn) {
            Ok(()) => {
                self.in_use += 1;
                None
            }
            Err(conn) => {
                if let Some(listing) = &conn.listing {
                    listing.returned();
                }
                self.idle.push(Idle { conn, since: now });
                None
            }
        }
    }

    /// Removes the `n` least recently used idle connections.
    pub(crate) fn take_oldest_idle(&mut self, n: usize) -> Vec<Idle<M::Connection>> {
        let n = n.min(self.idle.len());
        self.size -= n;
        self.idle.drain(..n).collect()
    }
}

impl<M: Manager> Shared<M> {
    pub(crate) fn new(manager: M, config: PoolConfig) -> Self {
        let shared = Shared {
            manager,
            state: Mutex::new(State {
                config,
                idle: Vec::new(),
                waiters: Waiters::new(),
                size: 0,
                in_use: 0,
                opening: 0,
                background: 0,
                closed: false,
                reconnect_before: None,
            }),
            runtime: OnceLock::new(),
            freed: OnceLock::new(),
        };
        shared.remember_runtime();
        shared
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<M>> {
        // Critical sections never leave the state half-updated, so a panic elsewhere
        // while the lock was held does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn remember_runtime(&self) {
        if self.runtime.get().is_none() {
            if let Ok(handle) = Handle::try_current() {
                let _ = self.runtime.set(handle);
            }
        }
    }

    pub(crate) fn runtime(&self) -> Option<Handle> {
        Handle::try_current()
            .ok()
            .or_else(|| self.runtime.get().cloned())
    }

    /// Whether a connection has outlived its lifetime or the manager wants it closed.
    pub(crate) fn past_due(&self, conn: &Conn<M::Connection>, now: Instant) -> bool {
        conn.is_expired(now) || self.manager.must_retire(&conn.raw, now.into_std())
    }

    /// A checked-out connection comes back.
    pub(crate) fn give_back(self: &Arc<Self>, conn: Conn<M::Connection>) {
        let now = Instant::now();
        let (close, spawn, idle_now) = {
            let mut st = self.lock();
            st.in_use -= 1;
            if conn.is_expired(now) {
                st.size -= 1;
                (Some(conn), st.reserve_for_waiters(), false)
            } else if self.manager.must_retire(&conn.raw, now.into_std())
                || st.reconnect_before.is_some_and(|t| conn.created_at <= t)
            {
                // Retired early: its replacement opens now, before anyone asks for it.
                st.size -= 1;
                let spawn = st.reserve_for_waiters();
                (Some(conn), spawn + st.reserve_background(1), false)
            } else {
                let idle_before = st.idle.len();
                let close = st.checkin(conn, now);
                let idle_now = st.idle.len() > idle_before;
                (close, 0, idle_now)
            }
        };
        if close.is_some() {
            tracing::debug!("closing a returned connection");
        }
        // Other shards' waiters are woken only when there is something for them: a
        // connection left idle here, or room to open one (a closed connection whose
        // replacement nobody here is waiting for).
        let room = close.is_some() && spawn == 0;
        drop(close);
        self.spawn_opens(spawn);
        if idle_now || room {
            self.signal_freed();
        }
    }

    pub(crate) fn signal_freed(&self) {
        if let Some(freed) = self.freed.get() {
            freed.notify_waiters();
        }
    }

    /// A checked-out connection is closed instead of coming back.
    pub(crate) fn discard(self: &Arc<Self>, conn: Conn<M::Connection>) {
        let spawn = {
            let mut st = self.lock();
            st.in_use -= 1;
            st.size -= 1;
            st.reserve_for_waiters()
        };
        drop(conn);
        self.spawn_opens(spawn);
        if spawn == 0 {
            // Room to open one that no waiter here takes: others may use it.
            self.signal_freed();
        }
    }
}

/// An idle connection taken out of the list.
pub(crate) type Reused<M> = Idle<<M as Manager>::Connection>;
