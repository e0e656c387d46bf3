//! A pooled connection together with its bookkeeping.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::config::PoolConfig;
use crate::activity::ServerListing;

/// A connection owned by the pool, with the deadline fixed when it was opened.
pub(crate) struct Conn<C> {
    pub(crate) raw: C,
    pub(crate) created_at: Instant,
    expires_at: Option<Instant>,
    /// Its entry in SHOW SERVERS, when the manager lists connections.
    pub(crate) listing: Option<ServerListing>,
}

impl<C> Conn<C> {
    pub(crate) fn new(raw: C, config: &PoolConfig, listing: Option<ServerListing>) -> Self {
        let created_at = Instant::now();
        let expires_at = config.max_lifetime.and_then(|lifetime| {
            created_at.checked_add(jittered(lifetime, config.lifetime_jitter))
        });
        Conn {
            raw,
            created_at,
            expires_at,
            listing,
        }
    }

    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|deadline| now >= deadline)
    }
}

/// `lifetime - random(0..=jitter)`, never below zero.
fn jittered(lifetime: Duration, jitter: Duration) -> Duration {
    let jitter = jitter.min(lifetime);
    if jitter.is_zero() {
        return lifetime;
    }
    let max = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
    let cut = rand::thread_rng().gen_range(0..=max);
    lifetime.saturating_sub(Duration::from_nanos(cut))
}

/// A connection sitting in the idle list.
pub(crate) struct Idle<C> {
    pub(crate) conn: Conn<C>,
    pub(crate) since: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let lifetime = Duration::from_secs(100);
        let jitter = Duration::from_secs(10);
        let samples: Vec<Duration> = (0..200).map(|_| jittered(lifetime, jitter)).collect();
        assert!(samples
            .iter()
            .all(|d| *d <= lifetime && *d >= lifetime - jitter));
        let first = samples[0];
        assert!(samples.iter().any(|d| *d != first), "no jitter applied");
    }

    #[test]
    fn jitter_larger_than_lifetime_is_clamped() {
        let lifetime = Duration::from_millis(5);
        for _ in 0..100 {
            assert!(jittered(lifetime, Duration::from_secs(60)) <= lifetime);
        }
        assert_eq!(jittered(lifetime, Duration::ZERO), lifetime);
    }
}
