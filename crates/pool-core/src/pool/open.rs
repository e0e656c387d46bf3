//! Opening connections: for a caller of `get()` directly, or in a spawned task on behalf
//! of the queue and of `min_idle`.

use std::sync::Arc;

use tokio::time::Instant;

use super::conn::Conn;
use super::error::PoolError;
use super::manager::Manager;
use super::shared::Shared;

/// A reserved slot while its connection is being opened. Dropped unfinished (the
/// future was cancelled), it frees the slot.
pub(crate) struct Opening<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    background: bool,
    pending: bool,
}

impl<'a, M: Manager> Opening<'a, M> {
    /// Takes over a slot reserved with `State::reserve_direct`.
    pub(crate) fn direct(shared: &'a Arc<Shared<M>>) -> Self {
        Opening {
            shared,
            background: false,
            pending: true,
        }
    }

    /// Connects for the caller that reserved the slot. On success the connection is
    /// counted as in use.
    pub(crate) async fn connect_direct(
        mut self,
    ) -> Result<Conn<M::Connection>, PoolError<M::Error>> {
        let result = self.shared.manager.connect().await;
        self.pending = false;
        match result {
            Ok(raw) => {
                let listing = self.shared.manager.list(&raw);
                let mut st = self.shared.lock();
                st.opening -= 1;
                if st.closed {
                    st.size -= 1;
                    drop(st);
                    drop(raw);
                    return Err(PoolError::Closed);
                }
                st.in_use += 1;
                Ok(Conn::new(raw, &st.config, listing))
            }
            Err(error) => {
                self.release();
                Err(PoolError::Connect(error))
            }
        }
    }

    /// Connects on behalf of the queue (or to keep `min_idle`).
    async fn connect_background(mut self) {
        let result = self.shared.manager.connect().await;
        self.pending = false;
        let now = Instant::now();
        match result {
            Ok(raw) => {
                let listing = self.shared.manager.list(&raw);
                let close = {
                    let mut st = self.shared.lock();
                    st.opening -= 1;
                    st.background -= 1;
                    let conn = Conn::new(raw, &st.config, listing);
                    st.checkin(conn, now)
                };
                drop(close);
            }
            Err(error) => {
                let (undelivered, spawn) = {
                    let mut st = self.shared.lock();
                    st.size -= 1;
                    st.opening -= 1;
                    st.background -= 1;
                    let undelivered = if st.closed {
                        Some(error)
                    } else {
                        st.waiters.give_error(error).err()
                    };
                    (undelivered, st.reserve_for_waiters())
                };
                if let Some(error) = undelivered {
                    tracing::warn!(%error, "could not open a pool connection");
                }
                self.shared.spawn_opens(spawn);
            }
        }
    }

    /// Frees the slot of a failed or abandoned open.
    fn release(&self) {
        let spawn = {
            let mut st = self.shared.lock();
            st.size -= 1;
            st.opening -= 1;
            if self.background {
                st.background -= 1;
                // Abandoned background opens only happen when their runtime shuts down:
                // respawning there would just be dropped again.
                0
            } else {
                st.reserve_for_waiters()
            }
        };
        self.shared.spawn_opens(spawn);
    }
}

impl<M: Manager> Drop for Opening<'_, M> {
    fn drop(&mut self) {
        if self.pending {
            self.pending = false;
            self.release();
        }
    }
}

impl<M: Manager> Shared<M> {
    /// Spawns `n` background opens whose slots were reserved with
    /// `State::reserve_background`.
    pub(crate) fn spawn_opens(self: &Arc<Self>, n: usize) {
        if n == 0 {
            return;
        }
        let Some(runtime) = self.runtime() else {
            tracing::warn!("no async runtime to open pool connections on");
            let mut st = self.lock();
            st.size -= n;
            st.opening -= n;
            st.background -= n;
            return;
        };
        for _ in 0..n {
            let shared = Arc::clone(self);
            runtime.spawn(async move {
                let opening = Opening {
                    shared: &shared,
                    background: true,
                    pending: true,
                };
                opening.connect_background().await;
            });
        }
    }
}
