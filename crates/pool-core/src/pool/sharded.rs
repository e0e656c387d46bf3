//! A pool split into one shard per worker thread. Each shard is an ordinary [`Pool`]
//! whose connections are opened and used on its own worker, so handing a connection to a
//! session never wakes another thread. The configured size is divided between the
//! shards; a checkout borrows from another shard rather than wait while that one has a
//! connection to spare, and waiters are served in arrival order within their shard.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use super::{Manager, Pool, PoolConfig, PoolError, PoolStatus, PooledConnection};
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
}

pub struct ShardedPool<M: Manager> {
    manager: Arc<M>,
    shards: Vec<Pool<Arc<M>>>,
}

impl<M: Manager> ShardedPool<M> {
    /// Splits `config` over `workers` shards, fewer when the pool is smaller than that:
    /// every shard holds at least one connection.
    pub fn new(manager: M, config: PoolConfig, workers: usize) -> Self {
        let manager = Arc::new(manager);
        let n = workers.clamp(1, config.max_size.max(1));
        let shards = split(&config, n)
            .into_iter()
            .map(|c| Pool::new(manager.clone(), c))
            .collect();
        Self { manager, shards }
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
    /// the own shard's queue.
    pub async fn get(&self) -> Result<PooledConnection<Arc<M>>, PoolError<M::Error>> {
        let local = self.local_index();
        let n = self.shards.len();
        if n > 1 {
            for offset in 0..n {
                if let Some(result) = self.shards[(local + offset) % n].try_get().await {
                    return result;
                }
            }
        }
        self.shards[local].get().await
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
