//! Pool settings and the status snapshot.

use std::time::Duration;

/// Sizing and timing of a [`Pool`](super::Pool). Can be replaced at run time with
/// [`Pool::set_config`](super::Pool::set_config).
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Upper bound of open connections: idle, in use and being opened.
    pub max_size: usize,
    /// Maintenance keeps at least this many idle connections (bounded by `max_size`).
    pub min_idle: usize,
    /// How long `get()` waits in the queue before giving up.
    pub checkout_timeout: Duration,
    /// A connection older than its lifetime is closed when it comes back or while it is
    /// idle, never while it is in use.
    pub max_lifetime: Option<Duration>,
    /// Each connection's lifetime is `max_lifetime - random(0..=lifetime_jitter)`, fixed
    /// when it is opened, so that connections opened together do not expire together.
    pub lifetime_jitter: Duration,
    /// A connection idle for longer than this is closed by maintenance, as long as at
    /// least `min_idle` stay idle.
    pub idle_timeout: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_size: 10,
            min_idle: 0,
            checkout_timeout: Duration::from_secs(30),
            max_lifetime: None,
            lifetime_jitter: Duration::ZERO,
            idle_timeout: None,
        }
    }
}

/// A point-in-time view of a pool's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Open connections: `idle + in_use + opening`.
    pub size: usize,
    /// Connections ready for checkout.
    pub idle: usize,
    /// Connections checked out (or being handed to a waiter).
    pub in_use: usize,
    /// Callers of `get()` queued for a connection.
    pub waiting: usize,
    /// Connections being opened.
    pub opening: usize,
}
