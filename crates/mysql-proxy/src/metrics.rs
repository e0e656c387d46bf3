//! Metric handles, registered once per route so the hot path only touches atomics.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

#[derive(Clone)]
pub struct RouteMetrics {
    pub route: String,
    pub transactions: Counter,
    pub queries: Counter,
    pub bytes_from_clients: Counter,
    pub bytes_to_clients: Counter,
    pub checkout_wait: Histogram,
    pub server_connects: Counter,
    pub server_connect_errors: Counter,
    pub server_auth_failures: Counter,
    /// Server connections closed early because their credentials' lease was ending.
    pub server_retired: Counter,
    /// Clients pinned to their server connection by session state.
    pub pinned: Counter,
    pub server_credentials_generation: Gauge,
}

impl RouteMetrics {
    pub fn new(route: &str) -> Self {
        let r = route.to_owned();
        Self {
            transactions: counter!("sluice_transactions_total", "protocol" => "mysql", "pool" => r.clone()),
            queries: counter!("sluice_queries_total", "protocol" => "mysql", "pool" => r.clone()),
            bytes_from_clients: counter!("sluice_client_bytes_received_total", "protocol" => "mysql", "pool" => r.clone()),
            bytes_to_clients: counter!("sluice_client_bytes_sent_total", "protocol" => "mysql", "pool" => r.clone()),
            checkout_wait: histogram!("sluice_checkout_wait_seconds", "protocol" => "mysql", "pool" => r.clone()),
            server_connects: counter!("sluice_server_connections_opened_total", "protocol" => "mysql", "pool" => r.clone()),
            server_connect_errors: counter!("sluice_server_connect_errors_total", "protocol" => "mysql", "pool" => r.clone()),
            server_auth_failures: counter!("sluice_server_auth_failures_total", "protocol" => "mysql", "pool" => r.clone()),
            server_retired: counter!("sluice_server_connections_retired_total", "protocol" => "mysql", "pool" => r.clone(), "reason" => "lease_expiry"),
            pinned: counter!("sluice_clients_pinned_total", "protocol" => "mysql", "pool" => r.clone()),
            server_credentials_generation: gauge!("sluice_server_credentials_generation", "protocol" => "mysql", "pool" => r.clone()),
            route: r,
        }
    }
}

/// Counts an error by kind; errors are rare, so the label lookup is acceptable here.
pub fn count_error(kind: &'static str) {
    counter!("sluice_errors_total", "protocol" => "mysql", "kind" => kind).increment(1);
}

/// The role of each member as last seen (1 writable, 0 read-only, -1 unreachable).
pub fn member_role(cluster: &str, member: &str, role: f64) {
    gauge!("sluice_mysql_member_role", "cluster" => cluster.to_owned(), "member" => member.to_owned())
        .set(role);
}
