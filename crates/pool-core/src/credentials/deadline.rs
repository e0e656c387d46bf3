//! A deadline that can move: when a lease is renewed, the connections opened with it may
//! live longer. Read on every connection check-in, so it is a single atomic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const NONE: u64 = u64::MAX;

/// The time by which server connections opened with some credentials must be closed.
#[derive(Debug)]
pub struct RetireDeadline {
    base: Instant,
    /// Milliseconds after `base`, or `NONE`.
    offset_ms: AtomicU64,
}

impl RetireDeadline {
    pub fn new(at: Option<Instant>) -> Self {
        let d = Self {
            base: Instant::now(),
            offset_ms: AtomicU64::new(NONE),
        };
        d.set(at);
        d
    }

    /// Moves the deadline (`None`: no deadline).
    pub fn set(&self, at: Option<Instant>) {
        let v = match at {
            Some(t) => t.saturating_duration_since(self.base).as_millis() as u64,
            None => NONE,
        };
        self.offset_ms.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<Instant> {
        match self.offset_ms.load(Ordering::Relaxed) {
            NONE => None,
            ms => Some(self.base + Duration::from_millis(ms)),
        }
    }

    /// Whether a connection opened with these credentials must be closed now.
    pub fn is_due(&self, now: Instant) -> bool {
        self.get().is_some_and(|t| now >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_and_clears() {
        let now = Instant::now();
        let d = RetireDeadline::new(Some(now + Duration::from_secs(10)));
        assert!(!d.is_due(now));
        assert!(d.is_due(now + Duration::from_secs(11)));
        d.set(Some(now + Duration::from_secs(60)));
        assert!(!d.is_due(now + Duration::from_secs(11)));
        d.set(None);
        assert!(!d.is_due(now + Duration::from_secs(3600)));
        assert_eq!(d.get(), None);
    }

    #[test]
    fn past_deadline_is_due_at_once() {
        let d = RetireDeadline::new(Some(Instant::now() - Duration::from_secs(1)));
        assert!(d.is_due(Instant::now()));
    }
}
