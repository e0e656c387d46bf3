//! The PostgreSQL side: clusters and their watchers, routes and their pools built from
//! `[postgres]`, the frontend that admits clients, one listener per worker, and the
//! probes that keep each route's readiness current; and applying a reloaded
//! `[postgres]` section to them (added, changed and removed databases and clusters).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use pg_proxy::frontend::{AuthConfig, Frontend};
use pg_proxy::route::Route;
use pool_core::activity::Activity;
use pool_core::frontend::Sessions;
use pool_core::shutdown::Shutdown;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::postgres_routes::{assemble, Assembled, Built};
use super::route_table::{by_name, RouteChange};
use super::side::{each_route, set_gate, RouteGauges, RouteHealth, Side, StartContext};
use crate::config::{CredentialSettings, PgSettings, Validated};
use crate::sources::Sources;
use crate::workers::bind_reuseport;

/// How often each route re-checks that it can reach a primary (readiness).
const PROBE_EVERY: Duration = Duration::from_secs(10);

pub struct PostgresSide {
    frontend: Arc<Frontend>,
    built: Mutex<Built>,
    shutdown: Shutdown,
    runtimes: Vec<Handle>,
    listeners: Mutex<Vec<JoinHandle<()>>>,
}

impl PostgresSide {
    /// Builds the routes and the frontend, starts the clusters' watchers, listens on
    /// `pg.listen` on every worker, and starts probing the routes.
    pub fn start(pg: &PgSettings, ctx: StartContext<'_>) -> anyhow::Result<PostgresSide> {
        let Assembled {
            built,
            new_clusters,
        } = assemble(pg, &Built::default(), ctx.sources, ctx.runtimes)?;
        let mut frontend = Frontend::new(
            built.routes.routes(),
            AuthConfig::new(
                pg.client.hba.clone(),
                pg.client.users.clone(),
                pg.client.databases.clone(),
            ),
            pg.client.tls.clone(),
            pg.max_client_conn,
            pg.auth_timeout,
            ctx.shutdown.clone(),
        );
        frontend.client_write_timeout = pg.client_write_timeout;
        frontend.cancels = ctx.keys.cancels.clone();
        frontend.activity = ctx.keys.activity.clone();
        list_servers(&built.routes.routes(), &frontend.activity);
        frontend.set_handshake_limits(pg.max_handshakes, pg.max_handshakes_per_address);
        let frontend = Arc::new(frontend);
        for name in &new_clusters {
            built.clusters[name].spawn_checks(ctx.sources, &frontend, ctx.shutdown.clone())?;
        }
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
            built: Mutex::new(built),
            shutdown: ctx.shutdown,
            runtimes: ctx.runtimes.to_vec(),
            listeners: Mutex::new(listeners),
        })
    }
}

impl PostgresSide {
    /// Opens the admin console on this side's listener.
    pub fn open_console(&self, backend: Arc<dyn pg_proxy::console::ConsoleBackend>) {
        self.frontend.set_console(backend);
    }

    /// The users file as loaded now.
    pub fn users(&self) -> pool_core::users::Users {
        self.frontend.auth().users.clone()
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
        let mut built = self.built.lock().expect("built poisoned");
        // Routes and watchers of the old Vault client are rebuilt with new sources.
        let previous = if vault_changed {
            &Built::default()
        } else {
            &*built
        };
        let Assembled {
            built: next,
            new_clusters,
        } = assemble(pg, previous, sources, &self.runtimes)?;
        for name in &new_clusters {
            tracing::info!(cluster = %name, "watching the members of a new or changed PostgreSQL cluster");
            next.clusters[name].spawn_checks(sources, &self.frontend, self.shutdown.clone())?;
        }
        for change in built.routes.changes(&next.routes) {
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
        list_servers(&next.routes.routes(), &self.frontend.activity);
        self.frontend.set_routes(next.routes.routes());
        *built = next;
        Ok(())
    }

    fn credentials(&self) -> Vec<CredentialSettings> {
        self.built.lock().expect("built poisoned").credentials()
    }

    fn take_listeners(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.listeners.lock().expect("listeners poisoned"))
    }

    fn client_count(&self) -> usize {
        self.frontend.client_count()
    }

    fn login_count(&self) -> usize {
        self.frontend.handshake_count()
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
                unreachable: (!route.is_ready()).then(|| {
                    let members = route.cluster().describe_members();
                    match route.pool.manager().last_error() {
                        Some(e) => format!("no primary reachable: {e}; members: {members}"),
                        None => format!("no primary reachable; members: {members}"),
                    }
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
                mode: route.settings.mode,
                paused: route.pool.pause_gate().is_paused(),
                totals: route.metrics.totals(),
            })
            .collect()
    }

    fn close(&self) {
        for route in self.frontend.routes().values() {
            route.pool.close();
        }
    }

    fn set_paused(&self, route: Option<&str>, paused: bool) -> usize {
        let routes = self.frontend.routes();
        each_route(&routes, route, |r| set_gate(r.pool.pause_gate(), paused))
    }

    fn reconnect(&self, route: Option<&str>) -> usize {
        let routes = self.frontend.routes();
        each_route(&routes, route, |r| {
            r.pool.reconnect();
        })
    }
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

/// Lists the server connections of every route in SHOW SERVERS (routes already
/// listed stay as they are).
fn list_servers(routes: &HashMap<String, Arc<Route>>, activity: &Arc<Activity>) {
    for route in routes.values() {
        route.list_in(activity);
    }
}
