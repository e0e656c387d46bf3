//! The MySQL side: clusters and their role watchers, routes with one pool per member,
//! the read-write and read-only listeners; and applying a reloaded `[mysql]` section to
//! them (added, changed and removed databases and clusters).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use mysql_proxy::frontend::{AuthConfig, Frontend};
use mysql_proxy::members;
use mysql_proxy::route::Access;
use mysql_proxy::route::Route;
use pool_core::activity::{Activity, ClientEntry};
use pool_core::frontend::Sessions;
use pool_core::shutdown::Shutdown;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::mysql_routes::{assemble, Assembled, Built};
use super::route_table::{by_name, RouteChange};
use super::side::{each_route, set_gate, BoxFuture, RouteGauges, RouteHealth, Side, StartContext};
use crate::config::{CredentialSettings, MysqlSettings, Validated};
use crate::sources::Sources;
use crate::workers::bind_reuseport;

pub struct MysqlSide {
    frontend: Arc<Frontend>,
    built: Mutex<Built>,
    shutdown: Shutdown,
    runtimes: Vec<Handle>,
    listeners: Mutex<Vec<JoinHandle<()>>>,
}

impl MysqlSide {
    /// Builds routes, checks every member once (so that the listeners open knowing
    /// the roles), starts the watchers and the listeners. Takes the section: its RSA
    /// key moves into the frontend.
    pub async fn start(m: MysqlSettings, ctx: StartContext<'_>) -> anyhow::Result<MysqlSide> {
        let Assembled {
            built,
            new_clusters,
        } = assemble(&m, &Built::default(), ctx.sources, ctx.runtimes)?;
        for name in &new_clusters {
            let w = &built.clusters[name];
            let (credentials, options) = w.check_setup(ctx.sources)?;
            // The listeners open knowing the roles.
            members::check_once(&w.cluster, &options, &credentials).await;
            w.spawn_checks(credentials, options, ctx.shutdown.clone());
        }
        let mut frontend = Frontend::new(
            built.routes.routes(),
            auth(&m),
            m.client.tls.clone(),
            m.max_client_conn,
            m.auth_timeout,
            m.max_packet,
            ctx.shutdown.clone(),
        );
        frontend.client_write_timeout = m.client_write_timeout;
        frontend.kills = ctx.keys.kills.clone();
        frontend.activity = ctx.keys.activity.clone();
        list_servers(&built.routes.routes(), &frontend.activity);
        frontend.set_handshake_limits(m.max_handshakes, m.max_handshakes_per_address);
        let frontend = Arc::new(frontend);
        let listeners = listen(&m, &frontend, ctx.runtimes)?;
        if let Some(key) = m.rsa_key {
            frontend.set_rsa_key(key.0);
        }
        tracing::info!(read_write = %m.listen_rw, read_only = ?m.listen_ro, "MySQL listeners are up");
        Ok(MysqlSide {
            frontend,
            built: Mutex::new(built),
            shutdown: ctx.shutdown,
            runtimes: ctx.runtimes.to_vec(),
            listeners: Mutex::new(listeners),
        })
    }
}

fn auth(m: &MysqlSettings) -> AuthConfig {
    AuthConfig::new(
        m.client.hba.clone(),
        m.client.users.clone(),
        m.client.databases.clone(),
    )
}

/// The read-write listener, and the read-only one when configured, on every worker.
fn listen(
    m: &MysqlSettings,
    frontend: &Arc<Frontend>,
    runtimes: &[Handle],
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    let mut listeners = vec![(m.listen_rw, Access::ReadWrite)];
    if let Some(ro) = m.listen_ro {
        listeners.push((ro, Access::ReadOnly));
    }
    for (addr, access) in listeners {
        let bound = bind_reuseport(addr, runtimes.len())
            .with_context(|| format!("cannot listen on {addr} (mysql {access:?})"))?;
        for (std_listener, worker) in bound.into_iter().zip(runtimes) {
            let fe = frontend.clone();
            handles.push(worker.spawn(async move {
                match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => mysql_proxy::listener::run(l, fe, access).await,
                    Err(e) => tracing::error!(error = %e, "cannot start a listener"),
                }
            }));
        }
    }
    Ok(handles)
}

impl Side for MysqlSide {
    fn protocol(&self) -> &'static str {
        "mysql"
    }

    /// Databases added, removed or changed (a changed one gets a new route whose
    /// clients move over at their next transaction); clusters added or changed get new
    /// member checks.
    fn reload(
        &self,
        settings: &Validated,
        sources: &mut Sources,
        _vault_changed: bool,
    ) -> anyhow::Result<()> {
        let Some(m) = &settings.mysql else {
            return Ok(());
        };
        let mut built = self.built.lock().expect("built poisoned");
        let Assembled {
            built: next,
            new_clusters,
        } = assemble(m, &built, sources, &self.runtimes)?;
        for name in &new_clusters {
            let w = &next.clusters[name];
            let (credentials, options) = w.check_setup(sources)?;
            tracing::info!(cluster = %name, "checking the members of a new or changed MySQL cluster");
            w.spawn_checks(credentials, options, self.shutdown.clone());
        }
        for change in built.routes.changes(&next.routes) {
            match change {
                RouteChange::Replaced(name, old) => {
                    tracing::info!(database = %name, "MySQL database changed: new route");
                    old.close();
                }
                RouteChange::Removed(name, old) => {
                    tracing::info!(database = %name, "MySQL database removed");
                    old.close();
                }
                RouteChange::Added(name) => {
                    tracing::info!(database = %name, "MySQL database added");
                }
            }
        }
        self.frontend.set_auth(auth(m));
        self.frontend.set_tls(m.client.tls.clone());
        self.frontend.set_max_clients(m.max_client_conn);
        self.frontend
            .set_handshake_limits(m.max_handshakes, m.max_handshakes_per_address);
        list_servers(&next.routes.routes(), &self.frontend.activity);
        self.frontend.set_routes(next.routes.routes());
        *built = next;
        Ok(())
    }

    /// Its routes and member checks keep their sources until a restart; closing them on
    /// a Vault change would revoke leases their connections still use.
    fn restart_for_vault_change(&self) -> bool {
        true
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
        let routes = self.frontend.routes();
        by_name(&routes)
            .into_iter()
            .filter_map(|(name, route)| {
                // Every member's pool logs in with the route's one source.
                let credentials = route.all_pools().next()?.manager().credentials.clone();
                Some(RouteHealth {
                    name: name.clone(),
                    label: format!("mysql {name}"),
                    unreachable: (!route.is_ready())
                        .then(|| format!("no writable member among {}", route.cluster.describe())),
                    credentials,
                })
            })
            .collect()
    }

    fn route_gauges(&self) -> Vec<RouteGauges> {
        self.frontend
            .routes()
            .values()
            .map(|route| {
                let mut pool = pool_core::pool::PoolStatus::default();
                for s in route.all_pools().map(|p| p.status()) {
                    pool.size += s.size;
                    pool.idle += s.idle;
                    pool.in_use += s.in_use;
                    pool.opening += s.opening;
                    pool.waiting += s.waiting;
                }
                RouteGauges {
                    route: route.name.clone(),
                    pool,
                    clients: route.clients.count(),
                    ready: route.is_ready(),
                    mode: route.settings.mode,
                    paused: route.all_pools().any(|p| p.pause_gate().is_paused()),
                    totals: route.metrics.common().totals(),
                }
            })
            .collect()
    }

    fn close(&self) {
        for route in self.frontend.routes().values() {
            route.close();
        }
    }

    fn set_paused(&self, route: Option<&str>, paused: bool) -> usize {
        let routes = self.frontend.routes();
        each_route(&routes, route, |r| {
            r.all_pools().for_each(|p| set_gate(p.pause_gate(), paused))
        })
    }

    fn reconnect(&self, route: Option<&str>) -> usize {
        let routes = self.frontend.routes();
        each_route(&routes, route, |r| {
            r.all_pools().for_each(|p| {
                p.reconnect();
            })
        })
    }

    fn interrupt<'a>(&'a self, client: &'a ClientEntry) -> BoxFuture<'a> {
        Box::pin(async move {
            if client.info.protocol != "mysql" {
                return;
            }
            // KILL QUERY on the member serving it; an idle client has nothing running.
            if let Err(e) = self.frontend.kills.interrupt(client.info.wire_id).await {
                tracing::info!(client_id = client.id, error = ?e, "nothing stopped on the server for an ended MySQL client");
            }
        })
    }
}

/// Lists the server connections of every route in SHOW SERVERS (routes already
/// listed stay as they are).
fn list_servers(routes: &HashMap<String, Arc<Route>>, activity: &Arc<Activity>) {
    for route in routes.values() {
        route.list_in(activity);
    }
}
