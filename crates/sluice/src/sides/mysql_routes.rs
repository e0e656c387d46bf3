//! The MySQL side's routes and clusters: each cluster has its role watcher, each route
//! one pool per member. Built from `[mysql]`, reusing the clusters and routes of the
//! previous build that did not change.

use std::sync::Arc;

use mysql_proxy::members::{self, Cluster};
use mysql_proxy::route::{Route, RouteSettings};
use mysql_proxy::server::ConnectOptions;
use pool_core::credentials::CredentialSource;
use pool_core::shutdown::Shutdown;
use tokio::runtime::Handle;

use super::assembly::{self, Parts, Watched};
use super::side::MAINTENANCE_EVERY;
use crate::config::{ClusterSettings, MysqlDbSettings, MysqlRouteSettings, MysqlSettings};
use crate::sources::Sources;

pub type Built = assembly::Built<Cluster, MysqlRouteSettings, Route>;
pub type Assembled = assembly::Assembled<Cluster, MysqlRouteSettings, Route>;

impl Watched<Cluster, MysqlRouteSettings> {
    /// What the member checks log in with, and how they connect.
    pub fn check_setup(
        &self,
        sources: &mut Sources,
    ) -> anyhow::Result<(Arc<dyn CredentialSource>, ConnectOptions)> {
        let credentials = sources.get(&self.checked_as.credentials)?;
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

/// Clusters and routes for `m`, reusing those of `previous` that did not change.
pub fn assemble(
    m: &MysqlSettings,
    previous: &Built,
    sources: &mut Sources,
    runtimes: &[Handle],
) -> anyhow::Result<Assembled> {
    let mut parts = MysqlParts { sources, runtimes };
    assembly::assemble(&mut parts, "mysql", &m.clusters, &m.databases, previous)
}

/// How the MySQL side makes its clusters and routes: one pool per member.
struct MysqlParts<'a> {
    sources: &'a mut Sources,
    runtimes: &'a [Handle],
}

impl Parts for MysqlParts<'_> {
    type Cluster = Cluster;
    type RouteSettings = MysqlRouteSettings;
    type Route = Route;

    fn cluster(&self, name: &str, cs: &ClusterSettings) -> Cluster {
        Cluster::new(name, cs.endpoints.clone()).with_failover_timeout(cs.failover_timeout)
    }

    fn reuse(&self, route: &Route, db: &MysqlDbSettings) {
        route.set_pool_config(db.pool.clone());
    }

    fn route(
        &mut self,
        name: &str,
        db: &MysqlDbSettings,
        cluster: Arc<Cluster>,
        cs: &ClusterSettings,
    ) -> anyhow::Result<Arc<Route>> {
        let credentials = self.sources.get(&db.credentials)?;
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
            self.runtimes.len(),
        ));
        route.spawn_maintenance(self.runtimes, MAINTENANCE_EVERY);
        Ok(route)
    }
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
