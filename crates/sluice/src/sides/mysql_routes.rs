//! The MySQL side's routes and clusters: each cluster has its role watcher, each route
//! one pool per member. Built from `[mysql]`, reusing the clusters and routes of the
//! previous build that did not change.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use mysql_proxy::members::{self, Cluster};
use mysql_proxy::route::{Route, RouteSettings};
use mysql_proxy::server::ConnectOptions;
use pool_core::credentials::CredentialSource;
use pool_core::shutdown::Shutdown;
use tokio::runtime::Handle;

use super::route_table::{RouteIdentity, RouteTable};
use super::side::MAINTENANCE_EVERY;
use crate::config::{
    ClusterSettings, CredentialSettings, MysqlDbSettings, MysqlRouteSettings, MysqlSettings,
};
use crate::sources::Sources;

pub type MysqlRoutes = RouteTable<RouteIdentity<ClusterSettings, MysqlRouteSettings>, Route>;

/// What the routes and clusters were built from, to tell on reload what changed.
#[derive(Default)]
pub struct Built {
    pub clusters: HashMap<String, WatchedCluster>,
    pub routes: MysqlRoutes,
}

pub struct WatchedCluster {
    pub cluster: Arc<Cluster>,
    settings: ClusterSettings,
    /// What the member checks log in with (the cluster's first database's).
    credentials: CredentialSettings,
}

impl WatchedCluster {
    /// What the member checks log in with, and how they connect.
    pub fn check_setup(
        &self,
        sources: &mut Sources,
    ) -> anyhow::Result<(Arc<dyn CredentialSource>, ConnectOptions)> {
        let credentials = sources.get(&self.credentials)?;
        Ok((credentials, connect_options(&self.settings, false, 1)?))
    }

    /// Checks the members every `check_interval` until shutdown or until no route
    /// uses the cluster.
    pub fn spawn_checks(
        &self,
        credentials: Arc<dyn CredentialSource>,
        options: ConnectOptions,
        shutdown: Shutdown,
    ) {
        tokio::spawn(members::watch(
            self.cluster.clone(),
            options,
            credentials,
            self.settings.check_interval,
            shutdown,
        ));
    }
}

impl Built {
    /// Credential settings in use: the routes' and the member checks'.
    pub fn credentials(&self) -> Vec<CredentialSettings> {
        self.routes
            .identities()
            .map(|i| i.credentials.clone())
            .chain(self.clusters.values().map(|c| c.credentials.clone()))
            .collect()
    }
}

/// The outcome of [`assemble`].
pub struct Assembled {
    pub built: Built,
    /// Clusters that are new or changed: the caller starts their member checks.
    pub new_clusters: Vec<String>,
}

/// Clusters and routes for `m`, reusing those of `previous` that did not change.
pub fn assemble(
    m: &MysqlSettings,
    previous: &Built,
    sources: &mut Sources,
    runtimes: &[Handle],
) -> anyhow::Result<Assembled> {
    let mut next = Built::default();
    let mut new_clusters = Vec::new();
    for (name, db) in &m.databases {
        let cs = m
            .clusters
            .get(&db.cluster)
            .with_context(|| format!("mysql database {name}: unknown cluster {}", db.cluster))?;
        if !next.clusters.contains_key(&db.cluster) {
            let watched = match previous.clusters.get(&db.cluster) {
                Some(w) if w.settings == *cs => WatchedCluster {
                    cluster: w.cluster.clone(),
                    settings: w.settings.clone(),
                    credentials: w.credentials.clone(),
                },
                _ => {
                    new_clusters.push(db.cluster.clone());
                    WatchedCluster {
                        cluster: Arc::new(
                            Cluster::new(db.cluster.clone(), cs.endpoints.clone())
                                .with_failover_timeout(cs.failover_timeout),
                        ),
                        settings: cs.clone(),
                        credentials: db.credentials.clone(),
                    }
                }
            };
            next.clusters.insert(db.cluster.clone(), watched);
        }
        // The identity holds the cluster's settings: an unchanged route's cluster was
        // kept above, so the route still points at the watched one.
        let identity = RouteIdentity::of(db, cs);
        let route = match previous.routes.reusable(name, &identity) {
            Some(r) => {
                r.set_pool_config(db.pool.clone());
                r
            }
            None => {
                let cluster = next.clusters[&db.cluster].cluster.clone();
                new_route(name, db, cluster, cs, sources, runtimes)?
            }
        };
        next.routes.insert(name, identity, route);
    }
    Ok(Assembled {
        built: next,
        new_clusters,
    })
}

fn new_route(
    name: &str,
    db: &MysqlDbSettings,
    cluster: Arc<Cluster>,
    cs: &ClusterSettings,
    sources: &mut Sources,
    runtimes: &[Handle],
) -> anyhow::Result<Arc<Route>> {
    let credentials = sources.get(&db.credentials)?;
    let options = connect_options(cs, db.route.local_infile, db.route.statement_cache)?;
    let route = Arc::new(Route::new(
        name,
        RouteSettings {
            mode: db.route.mode,
            max_clients: db.route.max_clients,
            local_infile: db.route.local_infile,
            idle_in_transaction_timeout: db.route.idle_in_transaction_timeout,
            max_prepared_statements: db.route.max_prepared_statements,
        },
        cluster,
        options,
        credentials,
        db.pool.clone(),
        runtimes.len(),
    ));
    route.spawn_maintenance(runtimes, MAINTENANCE_EVERY);
    Ok(route)
}

fn connect_options(
    cs: &ClusterSettings,
    local_infile: bool,
    statement_cache: usize,
) -> anyhow::Result<ConnectOptions> {
    Ok(ConnectOptions {
        tls_mode: cs.tls_mode,
        tls: pool_core::net::tls::client_config(cs.tls_mode, cs.tls_ca_file.as_deref())?,
        connect_timeout: cs.connect_timeout,
        local_infile,
        statement_cache,
        found_rows: false,
        allow_plaintext_password: cs.allow_plaintext_password,
    })
}
