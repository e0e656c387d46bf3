//! A Prometheus counter that also keeps its own total in the process, so that the
//! admin console can show it (a recorder's counters cannot be read back).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use metrics::Counter;

#[derive(Clone)]
pub struct Tallied {
    counter: Counter,
    total: Arc<AtomicU64>,
}

impl Tallied {
    pub fn new(counter: Counter) -> Self {
        Self {
            counter,
            total: Arc::default(),
        }
    }

    pub fn increment(&self, n: u64) {
        self.counter.increment(n);
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Everything counted since the route was built.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// A route's totals, as SHOW STATS shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub transactions: u64,
    pub queries: u64,
    /// Bytes received from clients.
    pub received: u64,
    /// Bytes sent to clients.
    pub sent: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_total_of_its_increments() {
        let t = Tallied::new(Counter::noop());
        t.increment(2);
        t.clone().increment(3);
        assert_eq!(t.total(), 5);
    }
}
