//! What a configuration asks of a deployment, for `sluice check` to warn about: every
//! replica opens its pools in full, so the replicas together can hold more server
//! connections than a cluster's servers accept; and the stop sequence (preStop, the
//! drain, the closing, Vault lease revocation) must end before Kubernetes kills the pod.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::config::{ClusterSettings, DatabaseSettings, Validated};
use crate::drain::CLOSING_GRACE;

/// A cluster whose servers the replicas' pools can overrun.
#[derive(Debug, PartialEq, Eq)]
pub struct PoolOverrun {
    /// `postgres.clusters.main`.
    pub cluster: String,
    pub replicas: usize,
    /// The sum of the cluster's databases' `pool_size`.
    pub pool_sizes: usize,
    /// What all replicas can open to one member: their pools and member checks.
    pub total: usize,
    pub limit: usize,
}

impl fmt::Display for PoolOverrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} replica(s) × ({} pool_size in total + 1 member check) = {} server \
             connections per member, over server_max_connections = {}",
            self.cluster, self.replicas, self.pool_sizes, self.total, self.limit
        )
    }
}

/// The clusters of both sections whose `server_max_connections` the pools of
/// `replicas` sluice processes can exceed.
pub fn pool_overruns(settings: &Validated, replicas: usize) -> Vec<PoolOverrun> {
    let mut found = Vec::new();
    if let Some(pg) = &settings.postgres {
        found.extend(overruns("postgres", &pg.clusters, &pg.databases, replicas));
    }
    if let Some(m) = &settings.mysql {
        found.extend(overruns("mysql", &m.clusters, &m.databases, replicas));
    }
    found
}

/// Each member of a cluster gets, from each replica, every database's pool (MySQL
/// keeps one per member; PostgreSQL's primary serves them all) and one connection of
/// the member checks.
fn overruns<R>(
    protocol: &str,
    clusters: &BTreeMap<String, ClusterSettings>,
    databases: &BTreeMap<String, DatabaseSettings<R>>,
    replicas: usize,
) -> Vec<PoolOverrun> {
    clusters
        .iter()
        .filter_map(|(name, cluster)| {
            let limit = cluster.server_max_connections?;
            let pool_sizes: usize = databases
                .values()
                .filter(|db| db.cluster == *name)
                .map(|db| db.pool.max_size)
                .sum();
            let total = replicas * (pool_sizes + 1);
            (total > limit).then(|| PoolOverrun {
                cluster: format!("{protocol}.clusters.{name}"),
                replicas,
                pool_sizes,
                total,
                limit,
            })
        })
        .collect()
}

/// How long a stop can take from the start of the pod's termination, when it is
/// longer than `termination_grace`: the preStop hook, `shutdown_grace`, the closing
/// of the clients still there, and one Vault request for the leases' revocation.
pub fn stop_overrun(
    settings: &Validated,
    pre_stop: Duration,
    termination_grace: Duration,
) -> Option<String> {
    let revocation = settings
        .vault
        .as_ref()
        .map_or(Duration::ZERO, |v| v.request_timeout);
    let needed = pre_stop + settings.common.shutdown_grace + CLOSING_GRACE + revocation;
    (needed > termination_grace).then(|| {
        format!(
            "stopping can take {}s (preStop {}s + admin.shutdown_grace {}s + closing {}s + \
             Vault revocation {}s), over terminationGracePeriodSeconds {}s: the pod would be \
             killed with transactions still running",
            needed.as_secs(),
            pre_stop.as_secs(),
            settings.common.shutdown_grace.as_secs(),
            CLOSING_GRACE.as_secs(),
            revocation.as_secs(),
            termination_grace.as_secs()
        )
    })
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
