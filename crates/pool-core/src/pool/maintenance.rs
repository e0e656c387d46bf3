//! Periodic upkeep: lifetime, early retirement and idle-timeout expiry, shrinking,
//! `min_idle` top-up.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::manager::Manager;
use super::shared::Shared;

impl<M: Manager> Shared<M> {
    /// One maintenance pass.
    pub(crate) fn maintain(self: &Arc<Self>) {
        let now = Instant::now();
        let mut closing = Vec::new();
        let spawn = {
            let mut st = self.lock();
            if st.closed {
                return;
            }
            // Past their lifetime: closed whatever min_idle says; replaced below.
            let mut i = 0;
            while i < st.idle.len() {
                if self.past_due(&st.idle[i].conn, now) {
                    closing.push(st.idle.remove(i));
                    st.size -= 1;
                } else {
                    i += 1;
                }
            }
            // Above max_size after a shrink.
            let surplus = st.size.saturating_sub(st.config.max_size);
            closing.extend(st.take_oldest_idle(surplus));
            // Idle too long. The idle list is ordered by the time connections came back,
            // least recent first.
            if let Some(timeout) = st.config.idle_timeout {
                let spare = st.idle.len().saturating_sub(st.config.min_idle);
                let stale = st
                    .idle
                    .iter()
                    .take(spare)
                    .take_while(|idle| now.saturating_duration_since(idle.since) >= timeout)
                    .count();
                closing.extend(st.take_oldest_idle(stale));
            }
            let target = st.config.min_idle.min(st.config.max_size);
            let missing = target.saturating_sub(st.idle.len() + st.background);
            let top_up = st.reserve_background(missing);
            top_up + st.reserve_for_waiters()
        };
        if !closing.is_empty() {
            tracing::debug!(count = closing.len(), "closing expired idle connections");
        }
        drop(closing);
        self.spawn_opens(spawn);
    }
}

/// Runs [`Shared::maintain`] every `every` until the pool is closed or gone.
pub(crate) async fn run<M: Manager>(pool: Weak<Shared<M>>, every: Duration) {
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = pool.upgrade() else {
            return;
        };
        if shared.lock().closed {
            return;
        }
        shared.maintain();
    }
}
