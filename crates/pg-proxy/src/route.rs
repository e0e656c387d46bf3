//! A route is what a client's database name selects: a cluster, the server database,
//! the pooling mode, its pool, and its shared prepared statements.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use pool_core::activity::Activity;
use pool_core::credentialed::{ConnEndpoint, Connector, CredentialedManager};
use pool_core::credentials::{CredentialSource, Credentials};
use pool_core::frontend::{CountsClients, RouteClients};
use pool_core::pool::{Manager, PoolConfig, ShardedPool};
use pool_core::route_metrics::RouteMetrics;
use tokio::sync::{watch, Notify};

use crate::metrics::route_metrics;
use crate::server::{connect, ConnectOptions, Endpoint, ServerConn, ServerError};
use crate::sql::trusted::TrustedFunctions;
use crate::state::statements::StatementRegistry;

pub use pool_core::mode::PoolMode;

/// The PostgreSQL hosts of one cluster, and which of them was last seen as primary
/// (by the cluster's watcher or by a route opening a connection).
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    /// How long a client between transactions waits for a primary when none is
    /// reachable (a switchover), before it gets an error.
    pub failover_timeout: Duration,
    primary_hint: AtomicUsize,
    /// The address of the server last found primary, once one was; its receivers
    /// learn of a switchover at once.
    primary: watch::Sender<Option<SocketAddr>>,
    /// What the watcher last saw of each member, for readiness lines.
    members: RwLock<Vec<MemberState>>,
    /// Asks the watcher for a check now rather than at its next tick.
    check_wanted: Notify,
}

/// What the watcher last saw of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberState {
    /// Not checked yet.
    Unknown,
    Primary,
    /// In recovery: a standby, or a primary still starting up.
    Standby,
    /// Did not answer; why.
    Down(String),
}

/// Whether a member was last seen out of recovery (1) or not (0): a cluster whose
/// members are all 0 has no primary. Set on each member check and when a connection
/// finds a new primary, both rare.
fn primary_gauge(cluster: &str, member: &Endpoint) -> metrics::Gauge {
    metrics::gauge!("sluice_cluster_primary", "protocol" => "postgres", "cluster" => cluster.to_owned(), "member" => member.to_string())
}

impl Cluster {
    pub fn new(
        name: impl Into<String>,
        endpoints: Vec<Endpoint>,
        failover_timeout: Duration,
    ) -> Self {
        let n = endpoints.len();
        let name = name.into();
        // Registered now, so that a cluster that never had a primary reads as none.
        metrics::counter!("sluice_cluster_switchovers_total", "protocol" => "postgres", "cluster" => name.clone()).increment(0);
        for e in &endpoints {
            primary_gauge(&name, e).set(0.0);
        }
        Self {
            name,
            endpoints,
            failover_timeout,
            primary_hint: AtomicUsize::new(0),
            primary: watch::Sender::new(None),
            members: RwLock::new(vec![MemberState::Unknown; n]),
            check_wanted: Notify::new(),
        }
    }

    /// Records the server found primary; a different one than before is a switchover,
    /// counted and logged.
    pub(crate) fn found_primary(&self, index: usize, addr: SocketAddr) {
        self.primary_hint.store(index, Ordering::Relaxed);
        let mut previous = None;
        let changed = self.primary.send_if_modified(|current| {
            if *current == Some(addr) {
                return false;
            }
            previous = current.replace(addr);
            true
        });
        if !changed {
            return;
        }
        let endpoint = self.endpoints[index].to_string();
        if let Some(previous) = previous {
            tracing::warn!(cluster = %self.name, from = %previous, to = %addr, "the cluster's primary changed");
            metrics::counter!("sluice_cluster_switchovers_total", "protocol" => "postgres", "cluster" => self.name.clone()).increment(1);
        }
        // Found by a connection before the watcher's next check, maybe.
        primary_gauge(&self.name, &self.endpoints[index]).set(1.0);
        tracing::debug!(cluster = %self.name, primary = %endpoint, "primary found");
    }

    /// The address of the server last found primary.
    pub fn primary(&self) -> Option<SocketAddr> {
        *self.primary.borrow()
    }

    /// Changes of [`Cluster::primary`], from now on.
    pub fn primary_changes(&self) -> watch::Receiver<Option<SocketAddr>> {
        self.primary.subscribe()
    }

    /// Whether a server connection to `addr` may still serve: false once another
    /// server has been found primary (the old primary of a switchover may still run,
    /// demoted or, worse, writable).
    pub fn is_current_primary(&self, addr: SocketAddr) -> bool {
        self.primary.borrow().is_none_or(|p| p == addr)
    }

    /// Asks the watcher to check the members now: a server connection failed, which
    /// may be a switchover under way. Requests made before the check runs count once.
    pub fn check_soon(&self) {
        self.check_wanted.notify_one();
    }

    /// Resolves once [`Cluster::check_soon`] was called since the last time it resolved.
    pub(crate) async fn check_requested(&self) {
        self.check_wanted.notified().await;
    }

    /// Records what a check saw of member `index`; a change is logged.
    pub(crate) fn set_member(&self, index: usize, state: MemberState) {
        let mut members = self.members.write().expect("members poisoned");
        let primary = if state == MemberState::Primary {
            1.0
        } else {
            0.0
        };
        primary_gauge(&self.name, &self.endpoints[index]).set(primary);
        if members[index] != state {
            let member = &self.endpoints[index];
            match &state {
                MemberState::Down(why) => {
                    tracing::info!(cluster = %self.name, %member, error = %why, "member down");
                }
                other => {
                    tracing::info!(cluster = %self.name, %member, state = ?other, "member state changed")
                }
            }
            members[index] = state;
        }
    }

    /// The hosts, for messages.
    pub fn describe(&self) -> String {
        self.endpoints
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The hosts, each with what the watcher last saw of it (for readiness lines).
    pub fn describe_members(&self) -> String {
        let members = self.members.read().expect("members poisoned");
        self.endpoints
            .iter()
            .zip(members.iter())
            .map(|(e, state)| match state {
                MemberState::Unknown => format!("{e} (not checked yet)"),
                MemberState::Primary => format!("{e} (primary)"),
                MemberState::Standby => format!("{e} (in recovery)"),
                MemberState::Down(why) => format!("{e} (down: {why})"),
            })
            .collect::<Vec<_>>()
            .join(", ")
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

/// How a PostgreSQL server connection is opened for one route: the cluster's hosts,
/// last known primary first, until one accepts as a primary.
pub struct PgConnector {
    pub cluster: Arc<Cluster>,
    pub options: ConnectOptions,
    /// ParameterStatus values of the latest server connection, shown to new clients.
    startup_params: Mutex<Option<ServerParams>>,
}

/// Opens server connections for one route with the route's credentials.
pub type PgManager = CredentialedManager<PgConnector>;

impl PgConnector {
    pub fn new(cluster: Arc<Cluster>, options: ConnectOptions) -> Self {
        Self {
            cluster,
            options,
            startup_params: Mutex::new(None),
        }
    }

    pub fn startup_params(&self) -> Option<ServerParams> {
        self.startup_params.lock().expect("params poisoned").clone()
    }
}

impl Connector for PgConnector {
    type Conn = ServerConn;
    type Error = ServerError;

    /// Tries each host in turn; a refusal of the credentials ends the attempt at
    /// once, so that they are fetched again before the next.
    async fn connect(&self, creds: &Arc<Credentials>) -> Result<ServerConn, ServerError> {
        let mut last_err = None;
        for (idx, endpoint) in self.cluster.candidates() {
            match connect(endpoint, &self.options, creds).await {
                Ok(conn) => {
                    self.cluster.found_primary(idx, conn.cancel.addr);
                    *self.startup_params.lock().expect("params poisoned") =
                        Some(Arc::new(conn.params.clone()));
                    return Ok(conn);
                }
                Err(e @ ServerError::AuthFailed(_)) => return Err(e),
                Err(e) => {
                    tracing::debug!(endpoint = %endpoint, error = %e, "server connect attempt failed");
                    if e.is_unavailable() {
                        // Perhaps a switchover: the watcher finds where the primary went.
                        self.cluster.check_soon();
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(match last_err {
            Some(ServerError::NotPrimary(_)) | None => {
                ServerError::NoPrimary(self.cluster.describe())
            }
            Some(e) => e,
        })
    }

    fn is_refusal(error: &ServerError) -> bool {
        matches!(error, ServerError::AuthFailed(_))
    }

    fn credentials(conn: &ServerConn) -> &Credentials {
        &conn.credentials
    }

    fn describe(&self) -> String {
        self.cluster.describe()
    }

    const PROTOCOL: &'static str = "postgres";

    fn endpoint(conn: &ServerConn) -> ConnEndpoint {
        ConnEndpoint {
            addr: conn.cancel.addr,
            local: conn.stream.tcp().local_addr().ok(),
            remote_pid: conn.cancel.process_id as u32,
            tls: conn.stream.is_tls(),
        }
    }
}

/// Per-route settings that are not the pool's.
#[derive(Debug, Clone)]
pub struct RouteSettings {
    pub mode: PoolMode,
    pub max_clients: Option<usize>,
    pub idle_in_transaction_timeout: Option<Duration>,
    /// Functions besides PostgreSQL's own whose calls do not pin a client.
    pub trusted_functions: TrustedFunctions,
    /// Named prepared statements one transaction-mode client may hold at once.
    pub max_prepared_statements: usize,
}

/// `max_prepared_statements` unless configured.
pub const DEFAULT_MAX_PREPARED_STATEMENTS: usize = 10_000;

pub struct Route {
    pub name: String,
    pub settings: RouteSettings,
    /// One shard per worker thread; sessions use their worker's shard.
    pub pool: ShardedPool<PgManager>,
    pub statements: StatementRegistry,
    pub clients: RouteClients,
    pub metrics: RouteMetrics,
}

impl CountsClients for Route {
    fn clients(&self) -> &RouteClients {
        &self.clients
    }
}

impl Route {
    /// A route with its pool (one shard per worker) and its metrics.
    pub fn new(
        name: impl Into<String>,
        settings: RouteSettings,
        connector: PgConnector,
        credentials: Arc<dyn CredentialSource>,
        pool: PoolConfig,
        workers: usize,
    ) -> Self {
        let name = name.into();
        let metrics = route_metrics(&name);
        let statements = StatementRegistry::new(settings.trusted_functions.clone());
        let manager = PgManager::new(
            connector,
            credentials,
            Arc::new(AtomicU64::new(0)),
            metrics.clone(),
        );
        Self {
            name,
            clients: RouteClients::new(settings.max_clients),
            settings,
            pool: ShardedPool::new(manager, pool, workers),
            statements,
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

    /// Whether the server at `addr` still serves as primary: a new connection to the
    /// cluster reaches it. Tells a server connection ended on its own (by
    /// `pg_terminate_backend`) from a server that stops.
    pub async fn still_serves(&self, addr: SocketAddr) -> bool {
        match Manager::connect(self.pool.manager()).await {
            Ok(conn) => {
                let same = conn.cancel.addr == addr;
                conn.terminate().await;
                same
            }
            Err(_) => false,
        }
    }

    /// Lists the route's server connections in `activity` (SHOW SERVERS).
    pub fn list_in(&self, activity: &Arc<Activity>) {
        self.pool.manager().list_in(activity.clone());
    }

    /// The cluster the route's server connections go to.
    pub fn cluster(&self) -> &Cluster {
        &self.pool.manager().cluster
    }

    /// Whether the latest connection attempt reached a primary.
    pub fn is_ready(&self) -> bool {
        self.pool.manager().is_reachable()
    }
}
