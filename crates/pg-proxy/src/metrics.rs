//! The PostgreSQL side's metrics: the route metrics of pool-core under the
//! `postgres` protocol label.

use pool_core::route_metrics::Protocol;

pub use pool_core::route_metrics::RouteMetrics;

/// A route's metric handles, registered once when the route is built.
pub fn route_metrics(route: &str) -> RouteMetrics {
    RouteMetrics::new(Protocol::Postgres, route)
}

/// Counts an error by kind; errors are rare, so the label lookup is acceptable here.
pub fn count_error(kind: &'static str) {
    pool_core::route_metrics::count_error(Protocol::Postgres, kind);
}
