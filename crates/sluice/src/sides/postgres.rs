//! The PostgreSQL side: routes and their pools built from `[postgres]`, the frontend
//! that admits clients, one listener per worker, and the probes that keep each route's
//! readiness current; and applying a reloaded `[postgres]` section to them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use pg_proxy::frontend::{AuthConfig, Frontend};
use pg_proxy::route::{Cluster, PgConnector, Route, RouteSettings};
use pg_proxy::server::ConnectOptions;
use pool_core::frontend::Sessions;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::route_table::{by_name, RouteChange, RouteIdentity, RouteTable};
use super::side::{RouteGauges, RouteHealth, Side, StartContext, MAINTENANCE_EVERY};
use crate::config::{
    ClusterSettings, CredentialSettings, PgDbSettings, PgRouteSettings, PgSettings, Validated,
};
use crate::sources::Sources;
use crate::workers::bind_reuseport;

/// How often each route re-checks that it can reach a primary (readiness).
const PROBE_EVERY: Duration = Duration::from_secs(10);

type PgRoutes = RouteTable<RouteIdentity<ClusterSettings, PgRouteSettings>, Route>;

pub struct PostgresSide {
    frontend: Arc<Frontend>,
    routes: Mutex<PgRoutes>,
    runtimes: Vec<Handle>,
    listeners: Mutex<Vec<JoinHandle<()>>>,
}

impl PostgresSide {
    /// Builds the routes and the frontend, listens on `pg.listen` on every worker, and
    /// starts probing the routes.
    pub fn start(pg: &PgSettings, ctx: StartContext<'_>) -> anyhow::Result<PostgresSide> {
        let routes = build_routes(pg, &PgRoutes::default(), ctx.sources, ctx.runtimes)?;
        let mut frontend = Frontend::new(
            routes.routes(),
            AuthConfig::new(
                pg.client.hba.clone(),
                pg.client.users.clone(),
                pg.client.databases.clone(),
            ),
            pg.client.tls.clone(),
            pg.max_client_conn,
            pg.auth_timeout,
            ctx.shutdown,
        );
        frontend.client_write_timeout = pg.client_write_timeout;
        frontend.set_handshake_limits(pg.max_handshakes, pg.max_handshakes_per_address);
        let frontend = Arc::new(frontend);
        let bound = bind_reuseport(pg.listen, ctx.runtimes.len())
            .with_context(|| format!("cannot listen on {} (postgres)", pg.listen))?;
        let listeners = bound
            .into_iter()
            .zip(ctx.runtimes)
            .map(|(std_listener, worker)| {
                let frontend = frontend.clone();
                worker.spawn(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => pg_proxy::listener::run(l, frontend).await,
                        Err(e) => tracing::error!(error = %e, "cannot start a listener"),
                    }
                })
            })
            .collect();
        tokio::spawn(probe_routes(frontend.clone()));
        Ok(PostgresSide {
            frontend,
            routes: Mutex::new(routes),
            runtimes: ctx.runtimes.to_vec(),
            listeners: Mutex::new(listeners),
        })
    }
}

impl Side for PostgresSide {
    fn protocol(&self) -> &'static str {
        "postgres"
    }

    fn reload(
        &self,
        settings: &Validated,
        sources: &mut Sources,
        vault_changed: bool,
    ) -> anyhow::Result<()> {
        let Some(pg) = &settings.postgres else {
            return Ok(());
        };
        let mut routes = self.routes.lock().expect("routes poisoned");
        // Routes of the old Vault client are rebuilt with new sources.
        let previous = if vault_changed {
            &PgRoutes::default()
        } else {
            &*routes
        };
        let next = build_routes(pg, previous, sources, &self.runtimes)?;
        for change in routes.changes(&next) {
            if let RouteChange::Replaced(_, old) | RouteChange::Removed(_, old) = change {
                // Sessions still using it keep it alive; it accepts no one new.
                old.pool.close();
            }
        }
        self.frontend.set_auth(AuthConfig::new(
            pg.client.hba.clone(),
            pg.client.users.clone(),
            pg.client.databases.clone(),
        ));
        self.frontend.set_tls(pg.client.tls.clone());
        self.frontend.set_max_clients(pg.max_client_conn);
        self.frontend
            .set_handshake_limits(pg.max_handshakes, pg.max_handshakes_per_address);
        self.frontend.set_routes(next.routes());
        *routes = next;
        Ok(())
    }

    fn credentials(&self) -> Vec<CredentialSettings> {
        let routes = self.routes.lock().expect("routes poisoned");
        routes.identities().map(|i| i.credentials.clone()).collect()
    }

    fn take_listeners(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.listeners.lock().expect("listeners poisoned"))
    }

    fn client_count(&self) -> usize {
        self.frontend.client_count()
    }

    fn sessions(&self) -> Sessions {
        self.frontend.sessions.clone()
    }

    fn route_health(&self) -> Vec<RouteHealth> {
        by_name(&self.frontend.routes())
            .into_iter()
            .map(|(name, route)| RouteHealth {
                name: name.clone(),
                label: name.clone(),
                unreachable: (!route.is_ready()).then(|| match route.pool.manager().last_error() {
                    Some(e) => format!("no primary reachable: {e}"),
                    None => "no primary reachable".to_owned(),
                }),
                credentials: route.pool.manager().credentials.clone(),
            })
            .collect()
    }

    fn route_gauges(&self) -> Vec<RouteGauges> {
        self.frontend
            .routes()
            .values()
            .map(|route| RouteGauges {
                route: route.name.clone(),
                pool: route.pool.status(),
                clients: route.clients.count(),
                ready: route.is_ready(),
            })
            .collect()
    }

    fn close(&self) {
        for route in self.frontend.routes().values() {
            route.pool.close();
        }
    }
}

/// The routes of `pg`, keeping those of `previous` whose identity is unchanged.
fn build_routes(
    pg: &PgSettings,
    previous: &PgRoutes,
    sources: &mut Sources,
    runtimes: &[Handle],
) -> anyhow::Result<PgRoutes> {
    let mut next = PgRoutes::default();
    let mut clusters: HashMap<String, Arc<Cluster>> = HashMap::new();
    for (name, db) in &pg.databases {
        let cluster_settings = pg
            .clusters
            .get(&db.cluster)
            .with_context(|| format!("database {name}: unknown cluster {}", db.cluster))?;
        let identity = RouteIdentity::of(db, cluster_settings);
        if let Some(route) = previous.reusable(name, &identity) {
            route.pool.set_config(db.pool.clone());
            next.insert(name, identity, route);
            continue;
        }
        let cluster = clusters
            .entry(db.cluster.clone())
            .or_insert_with(|| {
                Arc::new(Cluster::new(
                    db.cluster.clone(),
                    cluster_settings.endpoints.clone(),
                    cluster_settings.failover_timeout,
                ))
            })
            .clone();
        let route = new_route(name, db, cluster, cluster_settings, sources, runtimes)?;
        next.insert(name, identity, route);
    }
    Ok(next)
}

fn new_route(
    name: &str,
    db: &PgDbSettings,
    cluster: Arc<Cluster>,
    cs: &ClusterSettings,
    sources: &mut Sources,
    runtimes: &[Handle],
) -> anyhow::Result<Arc<Route>> {
    let credentials = sources.get(&db.credentials)?;
    let tls = pg_proxy::tls::client_config(cs.tls_mode, cs.tls_ca_file.as_deref())?;
    let options = ConnectOptions {
        database: db.route.server_database.clone(),
        tls_mode: cs.tls_mode,
        tls,
        connect_timeout: cs.connect_timeout,
        require_primary: true,
        statement_cache: db.route.statement_cache,
        allow_plaintext_password: cs.allow_plaintext_password,
    };
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
        runtimes.len(),
    ));
    route.pool.spawn_maintenance(runtimes, MAINTENANCE_EVERY);
    Ok(route)
}

/// Keeps readiness current: each route opens a fresh connection now and then, which
/// also checks that the server is a primary.
async fn probe_routes(frontend: Arc<Frontend>) {
    loop {
        for route in frontend.routes().values() {
            route.probe().await;
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}
