//! The MySQL side's metrics: pool-core's route metrics under the `mysql` protocol
//! label, plus what only this side has (member roles).

use std::ops::Deref;

use metrics::gauge;
use pool_core::route_metrics::Protocol;

/// A route's metric handles, registered once so the hot path only touches atomics.
#[derive(Clone)]
pub struct RouteMetrics {
    common: pool_core::route_metrics::RouteMetrics,
}

impl RouteMetrics {
    pub fn new(route: &str) -> Self {
        Self {
            common: pool_core::route_metrics::RouteMetrics::new(Protocol::Mysql, route),
        }
    }

    /// The series both protocols have.
    pub fn common(&self) -> &pool_core::route_metrics::RouteMetrics {
        &self.common
    }
}

impl Deref for RouteMetrics {
    type Target = pool_core::route_metrics::RouteMetrics;

    fn deref(&self) -> &Self::Target {
        &self.common
    }
}

/// Counts an error by kind; errors are rare, so the label lookup is acceptable here.
pub fn count_error(kind: &'static str) {
    pool_core::route_metrics::count_error(Protocol::Mysql, kind);
}

/// The role of each member as last seen (1 writable, 0 read-only, -1 unreachable).
pub fn member_role(cluster: &str, member: &str, role: f64) {
    gauge!("sluice_mysql_member_role", "cluster" => cluster.to_owned(), "member" => member.to_owned())
        .set(role);
}
