//! Assembling sluice from its settings: routes and their pools, the PostgreSQL listener,
//! the admin listener; then reloading on SIGHUP and draining on SIGTERM.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pg_proxy::frontend::{AuthConfig, Frontend};
use pg_proxy::route::{Cluster, PgConnector, Route, RouteSettings};
use pg_proxy::server::ConnectOptions;
use pool_core::credentials::vault::{DynamicRoleSource, StaticRoleSource, Vault, VaultSettings};
use pool_core::credentials::{CredentialSource, FileSource};
use pool_core::hba::HbaRules;
use pool_core::shutdown::{Phase, ShutdownController};
use pool_core::users::Users;

use crate::admin::{self, AdminState};
use crate::config::validate::{ClusterSettings, CredentialSettings, DbSettings, PgSettings};
use crate::config::{validate, Config, Problem, Validated};
use crate::config_watch::{watched_files, ConfigWatch, WATCH_EVERY};
use crate::mysql::MysqlSide;
use crate::signals::{Signal, Signals};
use crate::workers::{bind_reuseport, Workers};

/// How often idle-timeout, lifetime and min-idle are enforced.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);
/// How often each route re-checks that it can reach a primary (readiness).
const PROBE_EVERY: Duration = Duration::from_secs(10);

/// Reads and validates the config file.
pub fn load(path: &Path) -> Result<Validated, Vec<Problem>> {
    let config = Config::load(path).map_err(|e| {
        vec![Problem {
            location: "(file)".into(),
            message: e.to_string(),
        }]
    })?;
    let base = path.parent().unwrap_or(Path::new(".")).to_owned();
    validate(&config, &base)
}

/// What a route was built from; a reload keeps the route (and its pool) when only the
/// pool sizing changed.
#[derive(Debug, Clone, PartialEq)]
struct RouteIdentity {
    cluster: ClusterSettings,
    server_database: String,
    mode: pg_proxy::route::PoolMode,
    max_clients: Option<usize>,
    idle_in_transaction_timeout: Option<Duration>,
    statement_cache: usize,
    credentials: CredentialSettings,
}

/// Credential sources by what they were built from, shared by the routes naming the same
/// role, and kept across reloads so that a reload does not fetch or lease anew.
#[derive(Default)]
pub(crate) struct Sources {
    vault: Option<(VaultSettings, Arc<Vault>)>,
    by_settings: HashMap<CredentialSettings, Arc<dyn CredentialSource>>,
}

impl Sources {
    /// Sets up the Vault client when the settings name one (or changed). Returns the
    /// sources of the previous client, which must not be reused: the caller closes them
    /// (revoking their leases) once no pool uses them.
    fn set_vault(
        &mut self,
        settings: Option<&VaultSettings>,
    ) -> anyhow::Result<Vec<Arc<dyn CredentialSource>>> {
        match (settings, &self.vault) {
            (None, None) => return Ok(Vec::new()),
            (None, Some(_)) => self.vault = None,
            (Some(s), Some((current, _))) if s == current => return Ok(Vec::new()),
            (Some(s), _) => {
                let vault = Vault::new(s.clone()).context("[vault]")?;
                vault.spawn_token_upkeep();
                self.vault = Some((s.clone(), vault));
            }
        }
        let previous: Vec<CredentialSettings> = self
            .by_settings
            .keys()
            .filter(|k| !matches!(k, CredentialSettings::File { .. }))
            .cloned()
            .collect();
        Ok(previous
            .iter()
            .filter_map(|k| self.by_settings.remove(k))
            .collect())
    }

    pub(crate) fn get(
        &mut self,
        settings: &CredentialSettings,
    ) -> anyhow::Result<Arc<dyn CredentialSource>> {
        if let Some(s) = self.by_settings.get(settings) {
            return Ok(s.clone());
        }
        let vault = || {
            self.vault
                .as_ref()
                .map(|(_, v)| v.clone())
                .context("a route names a Vault role but there is no [vault] section")
        };
        let source: Arc<dyn CredentialSource> = match settings {
            CredentialSettings::File {
                username,
                password_file,
            } => Arc::new(FileSource::new(username.clone(), password_file.clone())),
            CredentialSettings::VaultStatic { mount, role } => {
                Arc::new(StaticRoleSource::new(vault()?, mount, role))
            }
            CredentialSettings::VaultDynamic { mount, role } => {
                Arc::new(DynamicRoleSource::new(vault()?, mount, role))
            }
        };
        self.by_settings.insert(settings.clone(), source.clone());
        Ok(source)
    }

    /// Forgets sources no route uses any more (their leases are revoked by `close`).
    fn keep_only(&mut self, used: &[CredentialSettings]) -> Vec<Arc<dyn CredentialSource>> {
        let unused: Vec<CredentialSettings> = self
            .by_settings
            .keys()
            .filter(|k| !used.contains(k))
            .cloned()
            .collect();
        unused
            .into_iter()
            .filter_map(|k| self.by_settings.remove(&k))
            .collect()
    }

    fn vault(&self) -> Option<Arc<Vault>> {
        self.vault.as_ref().map(|(_, v)| v.clone())
    }
}

pub struct App {
    config_path: PathBuf,
    workers: Workers,
    frontend: Arc<Frontend>,
    mysql: Option<Arc<MysqlSide>>,
    identities: HashMap<String, RouteIdentity>,
    sources: Sources,
}

impl App {
    pub async fn run(config_path: PathBuf, settings: Validated) -> anyhow::Result<()> {
        // Before any route registers its metric handles.
        let metrics = admin::install_recorder()?;
        let (shutdown_ctl, shutdown) = ShutdownController::new();
        let workers = Workers::start(settings.workers)?;
        let mut sources = Sources::default();
        sources.set_vault(settings.vault.as_ref())?;
        let (frontend, identities) = match &settings.postgres {
            Some(pg) => {
                let auth = load_auth(pg).map_err(|e| anyhow::anyhow!(e))?;
                let tls = client_tls(pg)?;
                let (routes, identities) =
                    build_routes(pg, &HashMap::new(), &HashMap::new(), &mut sources, &workers)?;
                let fe = Frontend::new(
                    routes,
                    auth,
                    tls,
                    pg.max_client_conn,
                    pg.auth_timeout,
                    shutdown.clone(),
                );
                (Arc::new(fe), identities)
            }
            // MySQL only: a PostgreSQL side with no routes and no listener.
            None => {
                let auth = AuthConfig::new(HbaRules::from_rules(Vec::new()), Users::default());
                let fe = Frontend::new(
                    HashMap::new(),
                    auth,
                    None,
                    0,
                    Duration::from_secs(1),
                    shutdown.clone(),
                );
                (Arc::new(fe), HashMap::new())
            }
        };
        let mut listeners = Vec::new();
        let mysql = match &settings.mysql {
            Some(m) => {
                let (side, handles) =
                    MysqlSide::start(m, &mut sources, &workers, shutdown.clone()).await?;
                listeners.extend(handles);
                Some(Arc::new(side))
            }
            None => None,
        };
        let mut app = App {
            config_path,
            workers,
            frontend: frontend.clone(),
            mysql: mysql.clone(),
            identities,
            sources,
        };

        let admin_listener = tokio::net::TcpListener::bind(settings.admin_listen)
            .await
            .with_context(|| format!("cannot listen on {} (admin)", settings.admin_listen))?;
        let pg_listeners = match &settings.postgres {
            Some(pg) => bind_reuseport(pg.listen, app.workers.len())
                .with_context(|| format!("cannot listen on {} (postgres)", pg.listen))?,
            None => Vec::new(),
        };
        tracing::info!(postgres = ?settings.postgres.as_ref().map(|p| p.listen), admin = %settings.admin_listen, "sluice is listening");
        let admin_state = Arc::new(AdminState::new(
            frontend.clone(),
            mysql,
            app.sources.vault(),
            metrics,
        ));
        tokio::spawn(admin::serve(
            admin_listener,
            admin_state.clone(),
            shutdown.clone(),
        ));
        for (std_listener, worker) in pg_listeners.into_iter().zip(app.workers.handles()) {
            let frontend = frontend.clone();
            listeners.push(worker.spawn(async move {
                match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => pg_proxy::listener::run(l, frontend).await,
                    Err(e) => tracing::error!(error = %e, "cannot start a listener"),
                }
            }));
        }
        admin_state.set_listening(true);
        tokio::spawn(probe_routes(frontend.clone()));

        let mut signals = Signals::new()?;
        let mut watch = ConfigWatch::new(watched_files(&app.config_path, &settings), WATCH_EVERY);
        loop {
            let signal = tokio::select! {
                s = signals.next() => s,
                () = watch.changed() => {
                    tracing::info!("configuration files changed; reloading");
                    Signal::Reload
                }
            };
            if let Signal::Stop = signal {
                break;
            }
            match app.reload() {
                Ok(files) => watch.reset(files),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "reload failed; keeping the running configuration")
                }
            }
        }
        tracing::info!(grace = ?settings.shutdown_grace, "shutting down: draining clients");
        admin_state.set_listening(false);
        shutdown_ctl.set(Phase::Draining);
        for listener in listeners {
            let _ = listener.await;
        }
        let deadline = tokio::time::Instant::now() + settings.shutdown_grace;
        while app.client_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown_ctl.set(Phase::Closing);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while app.client_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for route in app.frontend.routes().values() {
            route.pool.close();
        }
        if let Some(m) = &app.mysql {
            m.close();
        }
        // Leases are revoked so that no generated database user outlives sluice.
        for source in app.sources.by_settings.values() {
            source.close().await;
        }
        tracing::info!("sluice stopped");
        Ok(())
    }

    fn client_count(&self) -> usize {
        self.frontend.client_count() + self.mysql.as_ref().map_or(0, |m| m.frontend.client_count())
    }

    /// Re-reads the config file and applies users, access rules, limits and routes
    /// without dropping clients. Listen addresses need a restart. Returns the files
    /// the new configuration names, to be watched for changes.
    fn reload(&mut self) -> anyhow::Result<Vec<PathBuf>> {
        let settings = load(&self.config_path).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("invalid configuration:\n  {}", lines.join("\n  "))
        })?;
        let files = watched_files(&self.config_path, &settings);
        let vault_changed = settings.vault.as_ref() != self.sources.vault.as_ref().map(|(s, _)| s);
        if vault_changed && self.mysql.is_some() {
            // MySQL routes and member checks keep their sources until a restart;
            // closing them here would revoke leases their connections still use.
            anyhow::bail!("[vault] changed: with a [mysql] section this needs a restart");
        }
        if let (Some(side), Some(m)) = (&self.mysql, &settings.mysql) {
            side.reload(m, &mut self.sources)?;
        }
        let Some(pg) = settings.postgres else {
            if let Some(m) = &self.mysql {
                for source in self.sources.keep_only(&m.credentials()) {
                    tokio::spawn(close_when_unused(source));
                }
            }
            tracing::info!("configuration reloaded");
            return Ok(files);
        };
        let auth = load_auth(&pg).map_err(|e| anyhow::anyhow!(e))?;
        let tls = client_tls(&pg)?;
        let current = self.frontend.routes();
        let current: HashMap<String, Arc<Route>> = current
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if vault_changed {
            // Routes of the old Vault client are rebuilt below with new sources.
            self.identities.clear();
        }
        for source in self.sources.set_vault(settings.vault.as_ref())? {
            tokio::spawn(close_when_unused(source));
        }
        let (routes, identities) = build_routes(
            &pg,
            &current,
            &self.identities,
            &mut self.sources,
            &self.workers,
        )?;
        let mut used: Vec<CredentialSettings> =
            identities.values().map(|i| i.credentials.clone()).collect();
        // Sources of MySQL routes stay in use whatever the PostgreSQL side does.
        if let Some(m) = &self.mysql {
            used.extend(m.credentials());
        }
        for source in self.sources.keep_only(&used) {
            tokio::spawn(close_when_unused(source));
        }
        for (name, old) in &current {
            if !routes.get(name).is_some_and(|r| Arc::ptr_eq(r, old)) {
                // Sessions still using it keep it alive; it accepts no one new.
                old.pool.close();
            }
        }
        self.frontend.set_auth(auth);
        self.frontend.set_tls(tls);
        self.frontend.set_max_clients(pg.max_client_conn);
        self.frontend.set_routes(routes);
        self.identities = identities;
        tracing::info!("configuration reloaded");
        Ok(files)
    }
}

fn load_auth(pg: &PgSettings) -> Result<AuthConfig, String> {
    let users = Users::load(&pg.users_file).map_err(|e| e.to_string())?;
    let hba = match &pg.hba_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            HbaRules::parse(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        // Without rules: every client must prove a password with SCRAM.
        None => HbaRules::parse("host all all all scram-sha-256").map_err(|e| e.to_string())?,
    };
    Ok(AuthConfig::new(hba, users))
}

fn client_tls(pg: &PgSettings) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    match &pg.tls {
        Some((cert, key)) => Ok(Some(pg_proxy::tls::server_config(cert, key)?)),
        None => Ok(None),
    }
}

type Routes = (HashMap<String, Arc<Route>>, HashMap<String, RouteIdentity>);

fn build_routes(
    pg: &PgSettings,
    current: &HashMap<String, Arc<Route>>,
    identities: &HashMap<String, RouteIdentity>,
    sources: &mut Sources,
    workers: &Workers,
) -> anyhow::Result<Routes> {
    let mut routes = HashMap::new();
    let mut ids = HashMap::new();
    let mut clusters: HashMap<String, Arc<Cluster>> = HashMap::new();
    for (name, db) in &pg.databases {
        let cluster_settings = pg
            .clusters
            .get(&db.cluster)
            .with_context(|| format!("database {name}: unknown cluster {}", db.cluster))?;
        let identity = RouteIdentity {
            cluster: cluster_settings.clone(),
            server_database: db.server_database.clone(),
            mode: db.mode,
            max_clients: db.max_clients,
            idle_in_transaction_timeout: db.idle_in_transaction_timeout,
            statement_cache: db.statement_cache,
            credentials: db.credentials.clone(),
        };
        if let (Some(route), Some(old)) = (current.get(name), identities.get(name)) {
            if *old == identity {
                route.pool.set_config(db.pool.clone());
                routes.insert(name.clone(), route.clone());
                ids.insert(name.clone(), identity);
                continue;
            }
        }
        let cluster = clusters
            .entry(db.cluster.clone())
            .or_insert_with(|| {
                Arc::new(Cluster::new(
                    db.cluster.clone(),
                    cluster_settings.endpoints.clone(),
                ))
            })
            .clone();
        let credentials = sources.get(&db.credentials)?;
        let route = new_route(name, db, cluster, cluster_settings, credentials, workers)?;
        routes.insert(name.clone(), route);
        ids.insert(name.clone(), identity);
    }
    Ok((routes, ids))
}

fn new_route(
    name: &str,
    db: &DbSettings,
    cluster: Arc<Cluster>,
    cs: &ClusterSettings,
    credentials: Arc<dyn CredentialSource>,
    workers: &Workers,
) -> anyhow::Result<Arc<Route>> {
    let tls = pg_proxy::tls::client_config(cs.tls_mode, cs.tls_ca_file.as_deref())?;
    let options = ConnectOptions {
        database: db.server_database.clone(),
        tls_mode: cs.tls_mode,
        tls,
        connect_timeout: cs.connect_timeout,
        require_primary: true,
        statement_cache: db.statement_cache,
    };
    let route = Arc::new(Route::new(
        name,
        RouteSettings {
            mode: db.mode,
            max_clients: db.max_clients,
            idle_in_transaction_timeout: db.idle_in_transaction_timeout,
        },
        PgConnector::new(cluster, options),
        credentials,
        db.pool.clone(),
        workers.len(),
    ));
    route
        .pool
        .spawn_maintenance(workers.handles(), MAINTENANCE_EVERY);
    Ok(route)
}

/// Revokes what a source no route names any more holds, once the sessions of the
/// routes that used it are gone.
async fn close_when_unused(source: Arc<dyn CredentialSource>) {
    while Arc::strong_count(&source) > 1 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    source.close().await;
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
