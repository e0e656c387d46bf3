//! A route is what a client's database name selects: a cluster, the server database,
//! the pooling mode, its pool, and its shared prepared statements.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool_core::credentials::{CredentialSource, Credentials};
use pool_core::pool::{Manager, PoolConfig, ShardedPool};

use crate::metrics::RouteMetrics;
use crate::server::{connect, ConnectOptions, Endpoint, ServerConn, ServerError};
use crate::state::statements::StatementRegistry;

/// When a server connection goes back to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// At the end of the client's session.
    Session,
    /// At the end of each transaction.
    Transaction,
}

/// The PostgreSQL hosts of one cluster, and which of them was last seen as primary.
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    primary_hint: AtomicUsize,
}

impl Cluster {
    pub fn new(name: impl Into<String>, endpoints: Vec<Endpoint>) -> Self {
        Self {
            name: name.into(),
            endpoints,
            primary_hint: AtomicUsize::new(0),
        }
    }

    /// Endpoints in the order to try: the last known primary first.
    fn candidates(&self) -> impl Iterator<Item = (usize, &Endpoint)> {
        let start = self.primary_hint.load(Ordering::Relaxed) % self.endpoints.len().max(1);
        let n = self.endpoints.len();
        (0..n).map(move |i| {
            let idx = (start + i) % n;
            (idx, &self.endpoints[idx])
        })
    }
}

/// ParameterStatus name/value pairs as a server reported them.
pub type ServerParams = Arc<Vec<(String, String)>>;

/// Opens server connections for one route.
pub struct PgManager {
    pub cluster: Arc<Cluster>,
    pub options: ConnectOptions,
    pub credentials: Arc<dyn CredentialSource>,
    /// ParameterStatus values of the latest server connection, shown to new clients.
    startup_params: Mutex<Option<ServerParams>>,
    /// Whether the latest attempt reached a usable primary (for readiness).
    reachable: AtomicBool,
    /// Highest credentials generation a server connection was opened with.
    generation_seen: AtomicU64,
    metrics: RouteMetrics,
}

impl PgManager {
    pub fn new(
        cluster: Arc<Cluster>,
        options: ConnectOptions,
        credentials: Arc<dyn CredentialSource>,
        metrics: RouteMetrics,
    ) -> Self {
        Self {
            cluster,
            options,
            credentials,
            startup_params: Mutex::new(None),
            reachable: AtomicBool::new(false),
            generation_seen: AtomicU64::new(0),
            metrics,
        }
    }

    pub fn startup_params(&self) -> Option<ServerParams> {
        self.startup_params.lock().expect("params poisoned").clone()
    }

    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    async fn connect_once(&self) -> Result<ServerConn, ServerError> {
        let mut creds = self.credentials.current().await?;
        let mut retried_auth = false;
        let mut last_err = None;
        let candidates: Vec<(usize, Endpoint)> = self
            .cluster
            .candidates()
            .map(|(i, e)| (i, e.clone()))
            .collect();
        for (idx, endpoint) in candidates {
            loop {
                match connect(&endpoint, &self.options, &creds).await {
                    Ok(conn) => {
                        self.cluster.primary_hint.store(idx, Ordering::Relaxed);
                        self.note_generation(&creds);
                        *self.startup_params.lock().expect("params poisoned") =
                            Some(Arc::new(conn.params.clone()));
                        return Ok(conn);
                    }
                    Err(ServerError::AuthFailed(fields)) if !retried_auth => {
                        // The password may have rotated since it was fetched: fetch again
                        // and retry once before failing the waiting client.
                        self.metrics.server_auth_failures.increment(1);
                        tracing::warn!(
                            route = %self.metrics.route, endpoint = %endpoint, code = %fields.code,
                            "server refused credentials; fetching them again"
                        );
                        creds = pool_core::credentials::refetch_after_refusal(
                            &*self.credentials,
                            &creds,
                        )
                        .await?;
                        retried_auth = true;
                    }
                    Err(e) => {
                        if matches!(e, ServerError::AuthFailed(_)) {
                            self.metrics.server_auth_failures.increment(1);
                        }
                        tracing::debug!(endpoint = %endpoint, error = %e, "server connect attempt failed");
                        last_err = Some(e);
                        break;
                    }
                }
            }
        }
        Err(match last_err {
            Some(ServerError::NotPrimary(_)) | None => ServerError::NoPrimary(
                self.cluster
                    .endpoints
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Some(e) => e,
        })
    }
}

impl PgManager {
    /// Logs the first server connection opened with each new credentials generation.
    fn note_generation(&self, creds: &Credentials) {
        let previous = self
            .generation_seen
            .fetch_max(creds.generation, Ordering::Relaxed);
        if creds.generation > previous {
            self.metrics
                .server_credentials_generation
                .set(creds.generation as f64);
            if previous > 0 {
                tracing::info!(
                    route = %self.metrics.route, username = %creds.username,
                    generation = creds.generation, "server connection opened with new credentials"
                );
            }
        }
    }
}

impl Manager for PgManager {
    /// Boxed: the pool moves connections around, and a pointer moves cheaper than
    /// the connection with its buffers and caches.
    type Connection = Box<ServerConn>;
    type Error = ServerError;

    async fn connect(&self) -> Result<Box<ServerConn>, ServerError> {
        let result = self.connect_once().await.map(Box::new);
        self.reachable.store(result.is_ok(), Ordering::Relaxed);
        match &result {
            Ok(_) => self.metrics.server_connects.increment(1),
            Err(e) => {
                self.metrics.server_connect_errors.increment(1);
                tracing::warn!(route = %self.metrics.route, error = %e, "cannot open server connection");
            }
        }
        result
    }

    fn must_retire(&self, conn: &Box<ServerConn>, now: std::time::Instant) -> bool {
        let due = conn
            .credentials
            .retire
            .as_ref()
            .is_some_and(|deadline| deadline.is_due(now));
        if due {
            self.metrics.server_retired.increment(1);
        }
        due
    }
}

/// Per-route settings that are not the pool's.
#[derive(Debug, Clone)]
pub struct RouteSettings {
    pub mode: PoolMode,
    pub max_clients: Option<usize>,
    pub idle_in_transaction_timeout: Option<Duration>,
}

pub struct Route {
    pub name: String,
    pub settings: RouteSettings,
    /// One shard per worker thread; sessions use their worker's shard.
    pub pool: ShardedPool<PgManager>,
    pub statements: StatementRegistry,
    pub clients: AtomicUsize,
    pub metrics: RouteMetrics,
}

impl Route {
    pub fn new(
        name: impl Into<String>,
        settings: RouteSettings,
        manager: PgManager,
        pool: PoolConfig,
        workers: usize,
    ) -> Self {
        let metrics = manager.metrics.clone();
        Self {
            name: name.into(),
            settings,
            pool: ShardedPool::new(manager, pool, workers),
            statements: StatementRegistry::default(),
            clients: AtomicUsize::new(0),
            metrics,
        }
    }
}

impl Route {
    /// Opens and closes one server connection to check the route can reach a primary.
    pub async fn probe(&self) -> bool {
        match Manager::connect(self.pool.manager()).await {
            Ok(conn) => {
                conn.terminate().await;
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the latest connection attempt reached a primary.
    pub fn is_ready(&self) -> bool {
        self.pool.manager().is_reachable()
    }
}
