//! Exponential backoff with jitter for retrying Vault while it fails.

use std::time::Duration;

use rand::Rng;

#[derive(Debug)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The delay before the next attempt: doubling up to `max`, each with up to 20%
    /// random jitter so that replicas do not retry in step.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter_ms = (base.as_millis() as u64 / 5).max(1);
        base + Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms))
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}

/// A random delay up to `max`, added to scheduled refreshes so that several sluice
/// replicas do not ask Vault at the same instant.
pub(crate) fn jitter(max: Duration) -> Duration {
    let ms = max.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_max_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let d1 = b.next_delay();
        assert!(d1 >= Duration::from_secs(1) && d1 <= Duration::from_millis(1200));
        let d2 = b.next_delay();
        assert!(d2 >= Duration::from_secs(2) && d2 <= Duration::from_millis(2400));
        b.next_delay();
        let d4 = b.next_delay();
        assert!(d4 >= Duration::from_secs(5) && d4 <= Duration::from_secs(6));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1200));
    }

    #[test]
    fn jitter_stays_within_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(50)) <= Duration::from_millis(50));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
