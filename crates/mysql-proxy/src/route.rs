//! A route is what a client's database selects: a cluster, the pooling mode, the
//! credentials, and one pool per member of the cluster.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pool_core::credentials::{CredentialSource, Credentials};
use pool_core::pool::{Manager, PoolConfig, ShardedPool};

use crate::members::Cluster;
use crate::metrics::RouteMetrics;
use crate::server::{connect, ConnectOptions, ServerConn, ServerError};

/// When a server connection goes back to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// At the end of the client's session.
    Session,
    /// At a transaction boundary, when the session holds no state another client
    /// could see.
    Transaction,
}

/// Which listener a client came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// Opens server connections to one member for one route.
pub struct MemberManager {
    pub cluster: Arc<Cluster>,
    pub member: usize,
    pub database: String,
    pub options: ConnectOptions,
    pub credentials: Arc<dyn CredentialSource>,
    reachable: AtomicBool,
    generation_seen: Arc<AtomicU64>,
    metrics: RouteMetrics,
}

impl MemberManager {
    async fn connect_once(&self) -> Result<ServerConn, ServerError> {
        let endpoint = &self.cluster.endpoints[self.member];
        let creds = self.credentials.current().await?;
        match connect(
            endpoint,
            self.member,
            &self.options,
            &creds,
            Some(&self.database),
        )
        .await
        {
            Ok(conn) => {
                self.note_generation(&creds);
                Ok(conn)
            }
            Err(ServerError::AuthFailed(err)) => {
                // The password may have rotated since it was fetched: fetch again and
                // retry once before failing the waiting client.
                self.metrics.server_auth_failures.increment(1);
                tracing::warn!(
                    route = %self.metrics.route, member = %endpoint, code = err.code,
                    "server refused credentials; fetching them again"
                );
                let creds =
                    pool_core::credentials::refetch_after_refusal(&*self.credentials, &creds)
                        .await?;
                let result = connect(
                    endpoint,
                    self.member,
                    &self.options,
                    &creds,
                    Some(&self.database),
                )
                .await;
                match &result {
                    Ok(_) => self.note_generation(&creds),
                    Err(ServerError::AuthFailed(_)) => {
                        self.metrics.server_auth_failures.increment(1)
                    }
                    Err(_) => {}
                }
                result
            }
            Err(e) => Err(e),
        }
    }

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

    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }
}

impl Manager for MemberManager {
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSettings {
    pub mode: PoolMode,
    pub max_clients: Option<usize>,
    /// Whether LOAD DATA LOCAL INFILE may pass.
    pub local_infile: bool,
}

pub struct Route {
    pub name: String,
    pub settings: RouteSettings,
    pub cluster: Arc<Cluster>,
    /// One pool per member (index as in the cluster), each sharded per worker.
    pub pools: Vec<ShardedPool<MemberManager>>,
    /// The same for clients that asked for CLIENT_FOUND_ROWS (Connector/J,
    /// MySqlConnector and others by default): a server reports affected rows by that
    /// flag, which is set when a connection opens.
    pub found_rows_pools: Vec<ShardedPool<MemberManager>>,
    /// The found-rows pools keep no idle connections until a client uses them.
    found_rows_in_use: AtomicBool,
    pool_config: RwLock<PoolConfig>,
    pub clients: AtomicUsize,
    pub metrics: RouteMetrics,
}

impl Route {
    pub fn new(
        name: impl Into<String>,
        settings: RouteSettings,
        cluster: Arc<Cluster>,
        options: ConnectOptions,
        credentials: Arc<dyn CredentialSource>,
        pool: PoolConfig,
        workers: usize,
    ) -> Self {
        let name = name.into();
        let metrics = RouteMetrics::new(&name);
        let generation_seen = Arc::new(AtomicU64::new(0));
        let member_pools = |found_rows: bool| {
            (0..cluster.endpoints.len())
                .map(|member| {
                    let manager = MemberManager {
                        cluster: cluster.clone(),
                        member,
                        database: name.clone(),
                        options: ConnectOptions {
                            found_rows,
                            ..options.clone()
                        },
                        credentials: credentials.clone(),
                        reachable: AtomicBool::new(false),
                        generation_seen: generation_seen.clone(),
                        metrics: metrics.clone(),
                    };
                    let config = if found_rows {
                        without_idle(&pool)
                    } else {
                        pool.clone()
                    };
                    ShardedPool::new(manager, config, workers)
                })
                .collect::<Vec<_>>()
        };
        let pools = member_pools(false);
        let found_rows_pools = member_pools(true);
        Self {
            name,
            settings,
            cluster,
            pools,
            found_rows_pools,
            found_rows_in_use: AtomicBool::new(false),
            pool_config: RwLock::new(pool),
            clients: AtomicUsize::new(0),
            metrics,
        }
    }

    /// The member a client of `access` is served by now, and its pool.
    pub fn pool_for(
        &self,
        access: Access,
        found_rows: bool,
    ) -> Result<(usize, &ShardedPool<MemberManager>), ServerError> {
        let pools = if found_rows {
            if !self.found_rows_in_use.load(Ordering::Relaxed) {
                self.start_using_found_rows_pools();
            }
            &self.found_rows_pools
        } else {
            &self.pools
        };
        let member = match access {
            Access::ReadWrite => self.cluster.writable(),
            Access::ReadOnly => self.cluster.readable(),
        };
        match member {
            Some(m) => Ok((m, &pools[m])),
            None => Err(ServerError::NoMember {
                role: match access {
                    Access::ReadWrite => "writable",
                    Access::ReadOnly => "readable",
                },
                members: self.cluster.describe(),
            }),
        }
    }

    /// Whether a writable member is known.
    pub fn is_ready(&self) -> bool {
        self.cluster.writable().is_some()
    }

    pub fn set_pool_config(&self, config: PoolConfig) {
        let mut current = self.pool_config.write().expect("pool config poisoned");
        for p in &self.pools {
            p.set_config(config.clone());
        }
        let found_rows_config = if self.found_rows_in_use.load(Ordering::Relaxed) {
            config.clone()
        } else {
            without_idle(&config)
        };
        for p in &self.found_rows_pools {
            p.set_config(found_rows_config.clone());
        }
        *current = config;
    }

    #[cold]
    fn start_using_found_rows_pools(&self) {
        let config = self.pool_config.read().expect("pool config poisoned");
        if !self.found_rows_in_use.swap(true, Ordering::Relaxed) {
            for p in &self.found_rows_pools {
                p.set_config(config.clone());
            }
        }
    }

    /// Every pool of the route, both CLIENT_FOUND_ROWS variants.
    pub fn all_pools(&self) -> impl Iterator<Item = &ShardedPool<MemberManager>> {
        self.pools.iter().chain(&self.found_rows_pools)
    }

    pub fn close(&self) {
        for p in self.all_pools() {
            p.close();
        }
    }

    pub fn spawn_maintenance(&self, runtimes: &[tokio::runtime::Handle], every: Duration) {
        for p in self.all_pools() {
            p.spawn_maintenance(runtimes, every);
        }
    }
}

fn without_idle(config: &PoolConfig) -> PoolConfig {
    PoolConfig {
        min_idle: 0,
        ..config.clone()
    }
}

impl MemberManager {
    /// `KILL QUERY <thread_id>` on this member, over a connection of its own: a pooled
    /// one could be the very one being killed, or be unavailable.
    pub async fn kill_query(&self, thread_id: u32) -> Result<(), ServerError> {
        let mut conn = self.connect_once().await?;
        let result = conn.execute(&format!("KILL QUERY {thread_id}")).await;
        conn.quit().await;
        result.map(|_| ())
    }
}
