//! Assembling the MySQL side: clusters and their role watchers, routes with one pool
//! per member, the read-write and read-only listeners.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mysql_proxy::auth::rsa_exchange::RsaKey;
use mysql_proxy::frontend::{AuthConfig, Frontend};
use mysql_proxy::members::{self, Cluster};
use mysql_proxy::route::{Access, Route, RouteSettings};
use mysql_proxy::server::ConnectOptions;
use pool_core::hba::HbaRules;
use pool_core::shutdown::Shutdown;
use pool_core::users::Users;
use tokio::task::JoinHandle;

use crate::config::mysql::{MysqlClusterSettings, MysqlSettings};
use crate::config::validate::CredentialSettings;
use crate::workers::{bind_reuseport, Workers};

const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);

pub struct MysqlSide {
    pub frontend: Arc<Frontend>,
    /// What the routes' credential sources were built from (kept open on reload).
    pub credentials: Vec<CredentialSettings>,
}

pub fn load_auth(m: &MysqlSettings) -> anyhow::Result<AuthConfig> {
    let users = Users::load(&m.users_file).map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let hba = match &m.hba_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
            HbaRules::parse(&text).with_context(|| p.display().to_string())?
        }
        // Without rules every client must prove a password.
        None => HbaRules::parse("host all all all scram-sha-256")?,
    };
    Ok(AuthConfig::new(hba, users))
}

fn tls(m: &MysqlSettings) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    match &m.tls {
        Some((cert, key)) => Ok(Some(pool_core::net::tls::server_config(cert, key)?)),
        None => Ok(None),
    }
}

/// The configured RSA key for caching_sha2_password logins without TLS, if any.
fn rsa_key(m: &MysqlSettings) -> anyhow::Result<Option<RsaKey>> {
    let Some(path) = &m.rsa_private_key_file else {
        return Ok(None);
    };
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = RsaKey::from_pem(&pem).with_context(|| format!("{}", path.display()))?;
    Ok(Some(key))
}

fn connect_options(
    cs: &MysqlClusterSettings,
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
    })
}

impl MysqlSide {
    /// Builds routes, checks every member once (so that the listeners open knowing
    /// the roles), starts the watchers and the listeners.
    pub async fn start(
        m: &MysqlSettings,
        sources: &mut crate::app::Sources,
        workers: &Workers,
        shutdown: Shutdown,
    ) -> anyhow::Result<(MysqlSide, Vec<JoinHandle<()>>)> {
        let mut clusters: HashMap<String, Arc<Cluster>> = HashMap::new();
        let mut routes = HashMap::new();
        let mut watched = Vec::new();
        for (name, db) in &m.databases {
            let cs = m.clusters.get(&db.cluster).with_context(|| {
                format!("mysql database {name}: unknown cluster {}", db.cluster)
            })?;
            let credentials = sources.get(&db.credentials)?;
            let cluster = clusters
                .entry(db.cluster.clone())
                .or_insert_with(|| {
                    let c = Arc::new(Cluster::new(db.cluster.clone(), cs.endpoints.clone()));
                    // The watcher logs in with the first route's credentials.
                    watched.push((c.clone(), cs.clone(), credentials.clone()));
                    c
                })
                .clone();
            let options = connect_options(cs, db.local_infile, db.statement_cache)?;
            let route = Arc::new(Route::new(
                name.clone(),
                RouteSettings {
                    mode: db.mode,
                    max_clients: db.max_clients,
                    local_infile: db.local_infile,
                },
                cluster,
                options,
                credentials,
                db.pool.clone(),
                workers.len(),
            ));
            route.spawn_maintenance(workers.handles(), MAINTENANCE_EVERY);
            routes.insert(name.clone(), route);
        }
        for (cluster, cs, credentials) in watched {
            let options = connect_options(&cs, false, 1)?;
            members::check_once(&cluster, &options, &credentials).await;
            tokio::spawn(members::watch(
                cluster,
                options,
                credentials,
                cs.check_interval,
                shutdown.clone(),
            ));
        }
        let frontend = Arc::new(Frontend::new(
            routes,
            load_auth(m)?,
            tls(m)?,
            m.max_client_conn,
            m.auth_timeout,
            m.max_packet,
            shutdown,
        ));
        if let Some(key) = rsa_key(m)? {
            frontend.set_rsa_key(key);
        }
        let mut handles = Vec::new();
        let mut listeners = vec![(m.listen_rw, Access::ReadWrite)];
        if let Some(ro) = m.listen_ro {
            listeners.push((ro, Access::ReadOnly));
        }
        for (addr, access) in listeners {
            let bound = bind_reuseport(addr, workers.len())
                .with_context(|| format!("cannot listen on {addr} (mysql {access:?})"))?;
            for (std_listener, worker) in bound.into_iter().zip(workers.handles()) {
                let fe = frontend.clone();
                handles.push(worker.spawn(async move {
                    match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => mysql_proxy::listener::run(l, fe, access).await,
                        Err(e) => tracing::error!(error = %e, "cannot start a listener"),
                    }
                }));
            }
        }
        tracing::info!(read_write = %m.listen_rw, read_only = ?m.listen_ro, "MySQL listeners are up");
        let credentials = m
            .databases
            .values()
            .map(|d| d.credentials.clone())
            .collect();
        Ok((
            MysqlSide {
                frontend,
                credentials,
            },
            handles,
        ))
    }

    /// Applies users, access rules, TLS, limits and pool sizes from a reloaded config.
    /// Clusters and the set of databases need a restart.
    pub fn reload(&self, m: &MysqlSettings) -> anyhow::Result<()> {
        self.frontend.set_auth(load_auth(m)?);
        self.frontend.set_tls(tls(m)?);
        self.frontend.set_max_clients(m.max_client_conn);
        let routes = self.frontend.routes();
        for (name, db) in &m.databases {
            match routes.get(name) {
                Some(route) => route.set_pool_config(db.pool.clone()),
                None => {
                    tracing::warn!(database = %name, "new MySQL database needs a restart to be served")
                }
            }
        }
        Ok(())
    }

    /// Lines for /readyz; false when a route has no writable member.
    pub fn readiness(&self, lines: &mut Vec<String>) -> bool {
        let mut ready = true;
        let routes = self.frontend.routes();
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        for name in names {
            let route = &routes[name];
            if !route.is_ready() {
                ready = false;
                lines.push(format!(
                    "mysql {name}: no writable member among {}",
                    route.cluster.describe()
                ));
            }
        }
        ready
    }

    pub fn close(&self) {
        for route in self.frontend.routes().values() {
            route.close();
        }
    }

    pub fn render_metrics(&self) {
        metrics::gauge!("sluice_clients", "protocol" => "mysql")
            .set(self.frontend.client_count() as f64);
        for route in self.frontend.routes().values() {
            let (mut idle, mut active, mut opening, mut waiting) = (0, 0, 0, 0);
            for p in route.all_pools() {
                let s = p.status();
                idle += s.idle;
                active += s.in_use;
                opening += s.opening;
                waiting += s.waiting;
            }
            let pool = route.name.clone();
            let set = |state: &'static str, v: usize| {
                metrics::gauge!("sluice_pool_servers", "protocol" => "mysql", "pool" => pool.clone(), "state" => state)
                    .set(v as f64)
            };
            set("idle", idle);
            set("active", active);
            set("opening", opening);
            metrics::gauge!("sluice_pool_clients_waiting", "protocol" => "mysql", "pool" => pool.clone()).set(waiting as f64);
            metrics::gauge!("sluice_pool_clients", "protocol" => "mysql", "pool" => pool.clone())
                .set(route.clients.load(std::sync::atomic::Ordering::Relaxed) as f64);
            metrics::gauge!("sluice_route_ready", "protocol" => "mysql", "pool" => pool)
                .set(if route.is_ready() { 1.0 } else { 0.0 });
        }
    }
}
