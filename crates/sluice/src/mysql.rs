//! Assembling the MySQL side: clusters and their role watchers, routes with one pool
//! per member, the read-write and read-only listeners; and applying a reloaded config
//! to them (added, changed and removed databases and clusters).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use mysql_proxy::auth::rsa_exchange::RsaKey;
use mysql_proxy::frontend::{AuthConfig, Frontend};
use mysql_proxy::members::{self, Cluster};
use mysql_proxy::route::{Access, Route, RouteSettings};
use mysql_proxy::server::ConnectOptions;
use pool_core::credentials::CredentialSource;
use pool_core::hba::MysqlHbaRules;
use pool_core::shutdown::Shutdown;
use pool_core::users::Users;
use tokio::task::JoinHandle;

use crate::app::Sources;
use crate::config::mysql::{MysqlClusterSettings, MysqlDbSettings, MysqlSettings};
use crate::config::validate::CredentialSettings;
use crate::workers::{bind_reuseport, Workers};

const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);

pub struct MysqlSide {
    pub frontend: Arc<Frontend>,
    built: Mutex<Built>,
    shutdown: Shutdown,
    runtimes: Vec<tokio::runtime::Handle>,
}

/// What the routes and clusters were built from, to tell on reload what changed.
#[derive(Default)]
struct Built {
    clusters: HashMap<String, WatchedCluster>,
    databases: HashMap<String, MysqlDbSettings>,
}

struct WatchedCluster {
    cluster: Arc<Cluster>,
    settings: MysqlClusterSettings,
    /// What the member checks log in with (the cluster's first database's).
    credentials: CredentialSettings,
}

impl WatchedCluster {
    /// What the member checks log in with, and how they connect.
    fn check_setup(
        &self,
        sources: &mut Sources,
    ) -> anyhow::Result<(Arc<dyn CredentialSource>, ConnectOptions)> {
        let credentials = sources.get(&self.credentials)?;
        Ok((credentials, connect_options(&self.settings, false, 1)?))
    }

    /// Checks the members every `check_interval` until shutdown or until no route
    /// uses the cluster.
    fn spawn_checks(
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

/// Whether a database's route can stay as it is (only pool sizes and timeouts differ).
fn same_route(a: &MysqlDbSettings, b: &MysqlDbSettings) -> bool {
    a.cluster == b.cluster
        && a.mode == b.mode
        && a.max_clients == b.max_clients
        && a.statement_cache == b.statement_cache
        && a.local_infile == b.local_infile
        && a.credentials == b.credentials
}

fn new_route(
    name: &str,
    db: &MysqlDbSettings,
    cluster: Arc<Cluster>,
    cs: &MysqlClusterSettings,
    sources: &mut Sources,
    runtimes: &[tokio::runtime::Handle],
) -> anyhow::Result<Arc<Route>> {
    let credentials = sources.get(&db.credentials)?;
    let options = connect_options(cs, db.local_infile, db.statement_cache)?;
    let route = Arc::new(Route::new(
        name,
        RouteSettings {
            mode: db.mode,
            max_clients: db.max_clients,
            local_infile: db.local_infile,
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

/// The outcome of [`assemble`].
struct Assembled {
    routes: HashMap<String, Arc<Route>>,
    built: Built,
    /// Clusters that are new or changed: the caller starts their member checks.
    new_clusters: Vec<String>,
}

/// Clusters and routes for `m`, reusing those of `built` that did not change.
fn assemble(
    m: &MysqlSettings,
    built: &Built,
    current: &HashMap<String, Arc<Route>>,
    sources: &mut Sources,
    runtimes: &[tokio::runtime::Handle],
) -> anyhow::Result<Assembled> {
    let mut next = Built::default();
    let mut new_clusters = Vec::new();
    let mut routes = HashMap::new();
    for (name, db) in &m.databases {
        let cs = m
            .clusters
            .get(&db.cluster)
            .with_context(|| format!("mysql database {name}: unknown cluster {}", db.cluster))?;
        if !next.clusters.contains_key(&db.cluster) {
            let kept = built
                .clusters
                .get(&db.cluster)
                .filter(|w| w.settings == *cs);
            let watched = match kept {
                Some(w) => WatchedCluster {
                    cluster: w.cluster.clone(),
                    settings: w.settings.clone(),
                    credentials: w.credentials.clone(),
                },
                None => {
                    new_clusters.push(db.cluster.clone());
                    WatchedCluster {
                        cluster: Arc::new(Cluster::new(db.cluster.clone(), cs.endpoints.clone())),
                        settings: cs.clone(),
                        credentials: db.credentials.clone(),
                    }
                }
            };
            next.clusters.insert(db.cluster.clone(), watched);
        }
        let cluster = next.clusters[&db.cluster].cluster.clone();
        let unchanged = built
            .databases
            .get(name)
            .filter(|old| same_route(old, db))
            .and_then(|_| current.get(name))
            .filter(|r| Arc::ptr_eq(&r.cluster, &cluster));
        let route = match unchanged {
            Some(r) => {
                r.set_pool_config(db.pool.clone());
                r.clone()
            }
            None => new_route(name, db, cluster, cs, sources, runtimes)?,
        };
        routes.insert(name.clone(), route);
        next.databases.insert(name.clone(), db.clone());
    }
    Ok(Assembled {
        routes,
        built: next,
        new_clusters,
    })
}

impl Built {
    /// Credential settings in use: the routes' and the member checks'.
    fn credentials(&self) -> Vec<CredentialSettings> {
        self.databases
            .values()
            .map(|d| d.credentials.clone())
            .chain(self.clusters.values().map(|c| c.credentials.clone()))
            .collect()
    }
}

pub fn load_auth(m: &MysqlSettings) -> anyhow::Result<AuthConfig> {
    let users = Users::load(&m.users_file).map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let hba = match &m.hba_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
            MysqlHbaRules::parse(&text).with_context(|| p.display().to_string())?
        }
        // Without rules every client must prove a password.
        None => MysqlHbaRules::parse("host all all all scram-sha-256")?,
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
        sources: &mut Sources,
        workers: &Workers,
        shutdown: Shutdown,
    ) -> anyhow::Result<(MysqlSide, Vec<JoinHandle<()>>)> {
        let runtimes = workers.handles().to_vec();
        let Assembled {
            routes,
            built,
            new_clusters,
        } = assemble(m, &Built::default(), &HashMap::new(), sources, &runtimes)?;
        for name in &new_clusters {
            let w = &built.clusters[name];
            let (credentials, options) = w.check_setup(sources)?;
            // The listeners open knowing the roles.
            members::check_once(&w.cluster, &options, &credentials).await;
            w.spawn_checks(credentials, options, shutdown.clone());
        }
        let mut frontend = Frontend::new(
            routes,
            load_auth(m)?,
            tls(m)?,
            m.max_client_conn,
            m.auth_timeout,
            m.max_packet,
            shutdown.clone(),
        );
        frontend.client_write_timeout = m.client_write_timeout;
        let frontend = Arc::new(frontend);
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
        Ok((
            MysqlSide {
                frontend,
                built: Mutex::new(built),
                shutdown,
                runtimes,
            },
            handles,
        ))
    }

    /// Applies a reloaded config: users, access rules, TLS and limits; databases added,
    /// removed or changed (a changed one gets a new route whose clients move over at
    /// their next transaction); clusters added or changed get new member checks.
    /// Listen addresses need a restart.
    pub fn reload(&self, m: &MysqlSettings, sources: &mut Sources) -> anyhow::Result<()> {
        let auth = load_auth(m)?;
        let tls = tls(m)?;
        let mut built = self.built.lock().expect("built poisoned");
        let current = self.frontend.routes();
        let Assembled {
            routes,
            built: next,
            new_clusters,
        } = assemble(m, &built, &current, sources, &self.runtimes)?;
        for name in &new_clusters {
            let w = &next.clusters[name];
            let (credentials, options) = w.check_setup(sources)?;
            tracing::info!(cluster = %name, "checking the members of a new or changed MySQL cluster");
            w.spawn_checks(credentials, options, self.shutdown.clone());
        }
        for (name, old) in current.iter() {
            match routes.get(name) {
                Some(r) if Arc::ptr_eq(r, old) => {}
                Some(_) => {
                    tracing::info!(database = %name, "MySQL database changed: new route");
                    old.close();
                }
                None => {
                    tracing::info!(database = %name, "MySQL database removed");
                    old.close();
                }
            }
        }
        for name in routes.keys().filter(|n| !current.contains_key(*n)) {
            tracing::info!(database = %name, "MySQL database added");
        }
        self.frontend.set_auth(auth);
        self.frontend.set_tls(tls);
        self.frontend.set_max_clients(m.max_client_conn);
        self.frontend.set_routes(routes);
        *built = next;
        Ok(())
    }

    /// What the routes' and member checks' credential sources were built from: kept
    /// open on reload.
    pub fn credentials(&self) -> Vec<CredentialSettings> {
        self.built.lock().expect("built poisoned").credentials()
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
