//! The PostgreSQL side's routes and clusters: each cluster has its watcher, each route
//! its pool. Built from `[postgres]`, reusing the clusters and routes of the previous
//! build that did not change.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use pg_proxy::frontend::Frontend;
use pg_proxy::route::{Cluster, PgConnector, Route, RouteSettings};
use pg_proxy::server::{ConnectOptions, OwnerRole};
use pg_proxy::watcher::{self, Probe};
use pool_core::shutdown::Shutdown;
use tokio::runtime::Handle;

use super::assembly::{self, Parts, Watched};
use super::side::MAINTENANCE_EVERY;
use crate::config::{ClusterSettings, PgDbSettings, PgRouteSettings, PgSettings};
use crate::sources::Sources;

pub type Built = assembly::Built<Cluster, PgRouteSettings, Route>;
pub type Assembled = assembly::Assembled<Cluster, PgRouteSettings, Route>;

impl Watched<Cluster, PgRouteSettings> {
    /// Checks the members every `check_interval` until shutdown or until no route
    /// uses the cluster, logged in as the cluster's first database; when the primary
    /// moves, the idle connections of the cluster's routes (those `frontend` serves)
    /// to any other server are closed.
    pub fn spawn_checks(
        &self,
        sources: &mut Sources,
        frontend: &Arc<Frontend>,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let db = &self.checked_as;
        let probe = Probe::new(
            // The checks only ask pg_is_in_recovery(): no owner role needed.
            connect_options(&self.settings, &db.route.server_database, 1, None)?,
            sources.get(&db.credentials)?,
        );
        tokio::spawn(watcher::watch(
            self.cluster.clone(),
            probe,
            self.settings.check_interval,
            shutdown,
            close_idle_elsewhere(Arc::downgrade(frontend)),
        ));
        Ok(())
    }
}

/// What the watcher does when the primary moves: no idle connection to another server
/// is handed to a client later.
fn close_idle_elsewhere(frontend: Weak<Frontend>) -> impl Fn(&Cluster, SocketAddr) + Send {
    move |cluster, primary| {
        let Some(frontend) = frontend.upgrade() else {
            return;
        };
        for route in frontend.routes().values() {
            if !std::ptr::eq(route.cluster(), cluster) {
                continue;
            }
            let closed = route.pool.retain_idle(|conn| conn.cancel.addr == primary);
            if closed > 0 {
                tracing::info!(route = %route.name, closed, %primary, "idle server connections to another server than the new primary closed");
            }
        }
    }
}

/// Clusters and routes for `pg`, reusing those of `previous` that did not change.
pub fn assemble(
    pg: &PgSettings,
    previous: &Built,
    sources: &mut Sources,
    runtimes: &[Handle],
) -> anyhow::Result<Assembled> {
    let mut parts = PgParts { sources, runtimes };
    assembly::assemble(
        &mut parts,
        "postgres",
        &pg.clusters,
        &pg.databases,
        previous,
    )
}

/// How the PostgreSQL side makes its clusters and routes: one pool per route, whose
/// connections go to the cluster's primary.
struct PgParts<'a> {
    sources: &'a mut Sources,
    runtimes: &'a [Handle],
}

impl Parts for PgParts<'_> {
    type Cluster = Cluster;
    type RouteSettings = PgRouteSettings;
    type Route = Route;

    fn cluster(&self, name: &str, cs: &ClusterSettings) -> Cluster {
        Cluster::new(name, cs.endpoints.clone(), cs.failover_timeout)
    }

    fn reuse(&self, route: &Route, db: &PgDbSettings) {
        route.pool.set_config(db.pool.clone());
    }

    fn route(
        &mut self,
        name: &str,
        db: &PgDbSettings,
        cluster: Arc<Cluster>,
        cs: &ClusterSettings,
    ) -> anyhow::Result<Arc<Route>> {
        let credentials = self.sources.get(&db.credentials)?;
        let options = connect_options(
            cs,
            &db.route.server_database,
            db.route.statement_cache,
            db.route.owner_role.clone(),
        )?;
        let route = Arc::new(Route::new(
            name,
            RouteSettings {
                mode: db.route.mode,
                max_clients: db.route.max_clients,
                idle_in_transaction_timeout: db.route.idle_in_transaction_timeout,
                trusted_functions: db.route.trusted_functions.clone(),
                max_prepared_statements: db.route.max_prepared_statements,
            },
            PgConnector::new(cluster, options),
            credentials,
            db.pool.clone(),
            self.runtimes.len(),
        ));
        route
            .pool
            .spawn_maintenance(self.runtimes, MAINTENANCE_EVERY);
        Ok(route)
    }
}

/// How a route connects to the members (the watcher likewise, see [`Probe::new`]).
fn connect_options(
    cs: &ClusterSettings,
    database: &str,
    statement_cache: usize,
    owner_role: Option<OwnerRole>,
) -> anyhow::Result<ConnectOptions> {
    Ok(ConnectOptions {
        database: database.to_owned(),
        tls_mode: cs.tls_mode,
        tls: pg_proxy::tls::client_config(cs.tls_mode, cs.tls_ca_file.as_deref())?,
        connect_timeout: cs.connect_timeout,
        require_primary: true,
        statement_cache,
        allow_plaintext_password: cs.allow_plaintext_password,
        application_name: None,
        owner_role,
    })
}
