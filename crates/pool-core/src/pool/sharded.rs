//! A pool split into one shard per worker thread. Each shard is an ordinary [`Pool`]
//! whose connections are opened and used on its own worker, so handing a connection to a
//! session never wakes another thread. The configured size is divided between the
//! shards; a checkout borrows from another shard rather than wait while that one has a
//! connection to spare. A caller that has to wait queues in its own shard (served in
//! arrival order there) and also takes the first connection another shard frees, so a
//! share held for long (a transaction, a pinned session) never starves a waiter while
//! the rest of the pool is free.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use super::config::{PoolConfig, PoolStatus};
use super::error::PoolError;
use super::guard::PooledConnection;
use super::handle::Pool;
use super::manager::Manager;
use super::pause::PauseGate;
use crate::worker;

/// A manager shared by the shards of one pool.
impl<M: Manager> Manager for Arc<M> {
    type Connection = M::Connection;
    type Error = M::Error;

    fn connect(
        &self,
    ) -> impl std::future::Future<Output = Result<Self::Connection, Self::Error>> + Send {
        M::connect(self)
    }

    fn must_retire(&self, conn: &Self::Connection, now: std::time::Instant) -> bool {
        M::must_retire(self, conn, now)
    }

    fn released(&self, held: std::time::Duration) {
        M::released(self, held)
    }

    fn list(&self, conn: &Self::Connection) -> Option<crate::activity::ServerListing> {
        M::list(self, conn)
    }
}

pub struct ShardedPool<M: Manager> {
    manager: Arc<M>,
    shards: Vec<Pool<Arc<M>>>,
    /// Woken by every shard when a connection comes back or a slot frees up.
    freed: Arc<tokio::sync::Notify>,
    /// Holds new checkouts while the console has the pool paused.
    pause: PauseGate,
}

impl<M: Manager> ShardedPool<M> {
    /// Splits `config` over `workers` shards, fewer when the pool is smaller than that:
    /// every shard holds at least one connection.
    pub fn new(manager: M, config: PoolConfig, workers: usize) -> Self {
        let manager = Arc::new(manager);
        let n = workers.clamp(1, config.max_size.max(1));
        let freed = Arc::new(tokio::sync::Notify::new());
        let shards: Vec<Pool<Arc<M>>> = split(&config, n)
            .into_iter()
            .map(|c| Pool::new(manager.clone(), c))
            .collect();
        if shards.len() > 1 {
            for shard in &shards {
                shard.signal_freed_to(freed.clone());
            }
        }
        Self {
            manager,
            shards,
            freed,
            pause: PauseGate::default(),
        }
    }

    /// The shard of the calling worker thread (the first one off the workers).
    pub fn local(&self) -> &Pool<Arc<M>> {
        &self.shards[self.local_index()]
    }

    fn local_index(&self) -> usize {
        worker::current().unwrap_or(0) % self.shards.len()
    }

    /// Checks out a connection: from the caller's own shard when it has one at hand,
    /// else from any other shard that has one idle or room to open one (so a small pool
    /// is never "full" while another worker's share sits unused), else by waiting in
    /// the own shard's queue while watching the others for a connection they free.
    /// While paused, waits first for the pool to be resumed.
    pub async fn get(&self) -> Result<PooledConnection<Arc<M>>, PoolError<M::Error>> {
        self.pause.pass().await;
        let local = self.local_index();
        let n = self.shards.len();
        if n == 1 {
            return self.shards[0].get().await;
        }
        for offset in 0..n {
            if let Some(result) = self.shards[(local + offset) % n].try_get().await {
                return result;
            }
        }
        let queued = self.shards[local].get();
        tokio::pin!(queued);
        loop {
            // Registered before looking, so that a connection freed in between is not
            // missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            for offset in 1..n {
                if let Some(result) = self.shards[(local + offset) % n].try_get().await {
                    // Leaving the own queue hands anything it was given back.
                    return result;
                }
            }
            tokio::select! {
                biased;
                result = &mut queued => return result,
                _ = &mut freed => {}
            }
        }
    }

    /// The gate that PAUSE and RESUME work.
    pub fn pause_gate(&self) -> &PauseGate {
        &self.pause
    }

    pub fn shards(&self) -> &[Pool<Arc<M>>] {
        &self.shards
    }

    pub fn manager(&self) -> &M {
        &self.manager
    }

    /// The counters of all shards added up.
    pub fn status(&self) -> PoolStatus {
        self.shards
            .iter()
            .map(Pool::status)
            .fold(PoolStatus::default(), |a, s| PoolStatus {
                size: a.size + s.size,
                idle: a.idle + s.idle,
                in_use: a.in_use + s.in_use,
                waiting: a.waiting + s.waiting,
                opening: a.opening + s.opening,
            })
    }

    /// Applies a new configuration, divided as at creation. The shard count stays.
    pub fn set_config(&self, config: PoolConfig) {
        for (pool, c) in self.shards.iter().zip(split(&config, self.shards.len())) {
            pool.set_config(c);
        }
    }

    /// [`Pool::retain_idle`] on every shard; how many were closed in all.
    pub fn retain_idle(&self, mut keep: impl FnMut(&M::Connection) -> bool) -> usize {
        self.shards
            .iter()
            .map(|pool| pool.retain_idle(&mut keep))
            .sum()
    }

    /// [`Pool::reconnect`] on every shard; how many idle connections were closed.
    pub fn reconnect(&self) -> usize {
        self.shards.iter().map(Pool::reconnect).sum()
    }

    pub fn close(&self) {
        for pool in &self.shards {
            pool.close();
        }
    }

    /// Runs each shard's maintenance on its own worker (`runtimes[i]`), so that the
    /// connections it opens belong to that worker; on the current runtime without them.
    pub fn spawn_maintenance(&self, runtimes: &[Handle], every: Duration) {
        for (i, pool) in self.shards.iter().enumerate() {
            match runtimes.get(i % runtimes.len().max(1)) {
                Some(rt) => {
                    let _entered = rt.enter();
                    pool.spawn_maintenance(every);
                }
                None => {
                    pool.spawn_maintenance(every);
                }
            }
        }
    }
}

/// Divides sizes as evenly as possible; timings are the same for every shard.
fn split(config: &PoolConfig, n: usize) -> Vec<PoolConfig> {
    (0..n)
        .map(|i| {
            let share = |total: usize| total / n + usize::from(i < total % n);
            PoolConfig {
                max_size: share(config.max_size).max(1),
                min_idle: share(config.min_idle),
                ..config.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_split_evenly_and_add_up() {
        let config = PoolConfig {
            max_size: 20,
            min_idle: 3,
            ..PoolConfig::default()
        };
        let shards = split(&config, 3);
        assert_eq!(
            shards.iter().map(|c| c.max_size).collect::<Vec<_>>(),
            [7, 7, 6]
        );
        assert_eq!(
            shards.iter().map(|c| c.min_idle).collect::<Vec<_>>(),
            [1, 1, 1]
        );
        assert!(shards
            .iter()
            .all(|c| c.checkout_timeout == config.checkout_timeout));
    }
}
