//! Metric handles of one route, registered once when the route is built so the hot
//! path only touches atomics. Both protocols register the same series; the
//! `protocol` label tells them apart.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use crate::tally::{Tallied, Totals};

/// Which protocol side a metric belongs to (the value of the `protocol` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Postgres,
    Mysql,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Postgres => "postgres",
            Protocol::Mysql => "mysql",
        }
    }
}

#[derive(Clone)]
pub struct RouteMetrics {
    pub protocol: Protocol,
    pub route: String,
    pub transactions: Tallied,
    pub queries: Tallied,
    pub bytes_from_clients: Tallied,
    pub bytes_to_clients: Tallied,
    pub checkout_wait: Histogram,
    pub server_connects: Counter,
    pub server_connect_errors: Counter,
    pub server_auth_failures: Counter,
    /// Server connections closed early because their credentials' lease was ending.
    pub server_retired: Counter,
    /// Generation of the credentials the latest server connection was opened with.
    pub server_credentials_generation: Gauge,
    /// How long opening a server connection took (TCP, TLS, authentication).
    pub server_connect_time: Histogram,
    /// How long a client held a server connection, from checkout to release: one
    /// transaction in transaction mode, the session in session mode or when pinned.
    pub transaction_time: Histogram,
    /// How long a request took from when it went to its server connection to its last
    /// reply (PostgreSQL: a simple query or an extended batch up to ReadyForQuery; MySQL:
    /// a command).
    pub query_time: Histogram,
    /// Clients of this route keeping their server connection to the end of their session.
    pinned_now: Gauge,
    lost_servers: Counter,
    held_served: Counter,
    held_timed_out: Counter,
    hold_time: Histogram,
}

impl RouteMetrics {
    pub fn new(protocol: Protocol, route: &str) -> Self {
        let p = protocol.label();
        let r = route.to_owned();
        // Series of rare events are registered now too, so that dashboards and alerts
        // see a zero rather than no data.
        counter!("sluice_errors_total", "protocol" => p, "kind" => "server_connect").increment(0);
        Self {
            transactions: Tallied::new(
                counter!("sluice_transactions_total", "protocol" => p, "pool" => r.clone()),
            ),
            queries: Tallied::new(
                counter!("sluice_queries_total", "protocol" => p, "pool" => r.clone()),
            ),
            bytes_from_clients: Tallied::new(
                counter!("sluice_client_bytes_received_total", "protocol" => p, "pool" => r.clone()),
            ),
            bytes_to_clients: Tallied::new(
                counter!("sluice_client_bytes_sent_total", "protocol" => p, "pool" => r.clone()),
            ),
            checkout_wait: histogram!("sluice_checkout_wait_seconds", "protocol" => p, "pool" => r.clone()),
            server_connects: counter!("sluice_server_connections_opened_total", "protocol" => p, "pool" => r.clone()),
            server_connect_errors: counter!("sluice_server_connect_errors_total", "protocol" => p, "pool" => r.clone()),
            server_auth_failures: counter!("sluice_server_auth_failures_total", "protocol" => p, "pool" => r.clone()),
            server_retired: counter!("sluice_server_connections_retired_total", "protocol" => p, "pool" => r.clone(), "reason" => "lease_expiry"),
            server_credentials_generation: gauge!("sluice_server_credentials_generation", "protocol" => p, "pool" => r.clone()),
            server_connect_time: histogram!("sluice_server_connect_seconds", "protocol" => p, "pool" => r.clone()),
            query_time: histogram!("sluice_query_seconds", "protocol" => p, "pool" => r.clone()),
            transaction_time: histogram!("sluice_transaction_seconds", "protocol" => p, "pool" => r.clone()),
            pinned_now: gauge!("sluice_pool_clients_pinned", "protocol" => p, "pool" => r.clone()),
            lost_servers: counter!("sluice_server_connections_lost_total", "protocol" => p, "pool" => r.clone()),
            held_served: counter!("sluice_clients_held_total", "protocol" => p, "pool" => r.clone(), "outcome" => "served"),
            held_timed_out: counter!("sluice_clients_held_total", "protocol" => p, "pool" => r.clone(), "outcome" => "timed_out"),
            hold_time: histogram!("sluice_client_hold_seconds", "protocol" => p, "pool" => r.clone()),
            protocol,
            route: r,
        }
    }

    /// Counts a client that keeps its server connection to the end of its session,
    /// because its session holds state that cannot follow it to another one. Rare, so
    /// the label lookup is acceptable here. The client counts as pinned
    /// (`sluice_pool_clients_pinned`) until the returned guard is dropped with its session.
    pub fn count_pinned(&self, reason: &'static str) -> PinnedClient {
        counter!("sluice_clients_pinned_total", "protocol" => self.protocol.label(), "pool" => self.route.clone(), "reason" => reason).increment(1);
        self.pinned_now.increment(1.0);
        PinnedClient(self.pinned_now.clone())
    }
}

impl RouteMetrics {
    /// The totals SHOW STATS shows.
    pub fn totals(&self) -> Totals {
        Totals {
            transactions: self.transactions.total(),
            queries: self.queries.total(),
            received: self.bytes_from_clients.total(),
            sent: self.bytes_to_clients.total(),
        }
    }

    /// Records a client held while its cluster had no reachable primary, and whether a
    /// server connection came in time. Switchovers are rare: label lookups are fine.
    pub fn count_held(&self, held: std::time::Duration, served: bool) {
        let outcome = if served {
            &self.held_served
        } else {
            &self.held_timed_out
        };
        outcome.increment(1);
        self.hold_time.record(held.as_secs_f64());
    }

    /// Counts a server connection lost to its server (stopped, failed over, backend
    /// terminated or killed): found closed in the pool, or failed under a client.
    pub fn count_lost_server(&self) {
        self.count_lost_servers(1);
    }

    /// `n` server connections closed at once because their member went away.
    pub fn count_lost_servers(&self, n: u64) {
        self.lost_servers.increment(n);
    }
}

/// A client counted in `sluice_pool_clients_pinned` while it lives.
#[must_use = "the client stops counting as pinned when this is dropped"]
pub struct PinnedClient(Gauge);

impl Drop for PinnedClient {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Counts an error by kind; errors are rare, so the label lookup is acceptable here.
pub fn count_error(protocol: Protocol, kind: &'static str) {
    counter!("sluice_errors_total", "protocol" => protocol.label(), "kind" => kind).increment(1);
}
