//! A route is what a client's database selects: a cluster, the pooling mode, the
//! credentials, and one pool per member of the cluster.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pool_core::credentialed::{ConnEndpoint, Connector, CredentialedManager};
use pool_core::credentials::{CredentialSource, Credentials};
use pool_core::frontend::{CountsClients, RouteClients};
use pool_core::pool::{PoolConfig, ShardedPool};

use crate::members::Cluster;
use crate::metrics::RouteMetrics;
use crate::server::{connect, ConnectOptions, ServerConn, ServerError};

pub use pool_core::mode::PoolMode;

/// Which listener a client came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// How a server connection to one member is opened for one route.
pub struct MemberConnector {
    pub cluster: Arc<Cluster>,
    pub member: usize,
    pub database: String,
    pub options: ConnectOptions,
}

/// Opens server connections to one member with the route's credentials.
pub type MemberManager = CredentialedManager<MemberConnector>;

impl Connector for MemberConnector {
    type Conn = ServerConn;
    type Error = ServerError;

    async fn connect(&self, creds: &Arc<Credentials>) -> Result<ServerConn, ServerError> {
        let endpoint = &self.cluster.endpoints[self.member];
        connect(
            endpoint,
            self.member,
            &self.options,
            creds,
            Some(&self.database),
        )
        .await
    }

    fn is_refusal(error: &ServerError) -> bool {
        matches!(error, ServerError::AuthFailed(_))
    }

    fn credentials(conn: &ServerConn) -> &Credentials {
        &conn.credentials
    }

    fn describe(&self) -> String {
        self.cluster.endpoints[self.member].to_string()
    }

    const PROTOCOL: &'static str = "mysql";

    fn endpoint(conn: &ServerConn) -> ConnEndpoint {
        let tcp = conn.stream.tcp();
        ConnEndpoint {
            addr: tcp
                .peer_addr()
                .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
            local: tcp.local_addr().ok(),
            remote_pid: conn.thread_id,
            tls: conn.stream.is_tls(),
        }
    }
}

/// Per-route settings that are not the pool's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSettings {
    pub mode: PoolMode,
    pub max_clients: Option<usize>,
    /// Whether LOAD DATA LOCAL INFILE may pass.
    pub local_infile: bool,
    /// A client idle inside a transaction this long is disconnected.
    pub idle_in_transaction_timeout: Option<Duration>,
    /// Prepared statements one client may hold open; the next prepare gets error 1461.
    pub max_prepared_statements: usize,
}

/// MySQL's own default of `max_prepared_stmt_count`.
pub const DEFAULT_MAX_PREPARED_STATEMENTS: usize = 16382;

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
    pub clients: RouteClients,
    pub metrics: RouteMetrics,
}

impl CountsClients for Route {
    fn clients(&self) -> &RouteClients {
        &self.clients
    }
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
                    let connector = MemberConnector {
                        cluster: cluster.clone(),
                        member,
                        database: name.clone(),
                        options: ConnectOptions {
                            found_rows,
                            ..options.clone()
                        },
                    };
                    let manager = MemberManager::new(
                        connector,
                        credentials.clone(),
                        generation_seen.clone(),
                        metrics.common().clone(),
                    );
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
            clients: RouteClients::new(settings.max_clients),
            settings,
            cluster,
            pools,
            found_rows_pools,
            found_rows_in_use: AtomicBool::new(false),
            pool_config: RwLock::new(pool),
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

    /// Lists the route's server connections in `activity` (SHOW SERVERS).
    pub fn list_in(&self, activity: &Arc<pool_core::activity::Activity>) {
        for p in self.all_pools() {
            p.manager().list_in(activity.clone());
        }
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
