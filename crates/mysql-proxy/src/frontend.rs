//! State shared by every client session of the MySQL listeners: routes, client
//! authentication (rules and users), TLS, connection ids for KILL, limits. Routes
//! and auth are swapped whole on reload; a session keeps the snapshot it started with.
//! All but the users' secrets and what only MySQL has is pool-core's `FrontendCore`.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use pool_core::activity::Activity;
use pool_core::frontend::FrontendCore;
use pool_core::hba::MysqlHbaRules;
use pool_core::shutdown::Shutdown;
use pool_core::users::{DatabaseUsers, Users};

use crate::auth::rsa_exchange::RsaKey;
use crate::auth::{caching_sha2, native};
use crate::kill::KillRegistry;
use crate::route::Route;

/// What sluice can check a user's answer against, derived once at load.
#[derive(Default)]
pub struct UserSecrets {
    pub native: Option<native::Hash>,
    pub sha256: Option<caching_sha2::Hash>,
}

/// Client authentication: who may connect, and how they prove it.
pub struct AuthConfig {
    pub hba: MysqlHbaRules,
    pub users: Users,
    /// The databases bound to users, and who they admit.
    pub databases: DatabaseUsers,
    secrets: HashMap<String, UserSecrets>,
}

impl AuthConfig {
    pub fn new(hba: MysqlHbaRules, users: Users, databases: DatabaseUsers) -> Self {
        let mut secrets = HashMap::new();
        for entry in users.iter() {
            let mut s = UserSecrets::default();
            if let Some(h) = &entry.mysql_native {
                s.native = native::parse_stored(h.expose());
            }
            if let Some(h) = &entry.mysql_sha256 {
                s.sha256 = caching_sha2::parse_stored(h.expose());
            }
            if let Some(pw) = &entry.password {
                s.native
                    .get_or_insert_with(|| native::stored_hash(pw.expose().as_bytes()));
                s.sha256
                    .get_or_insert_with(|| caching_sha2::stored_hash(pw.expose().as_bytes()));
            }
            secrets.insert(entry.name.clone(), s);
        }
        Self {
            hba,
            users,
            databases,
            secrets,
        }
    }

    pub fn secrets(&self, user: &str) -> Option<&UserSecrets> {
        self.secrets.get(user)
    }

    /// Checks a password received whole (full authentication over TLS or RSA, or
    /// mysql_clear_password), against whichever secret the user has; a SCRAM
    /// verifier from the PostgreSQL side serves too.
    pub fn check_clear(&self, user: &str, password: &[u8]) -> bool {
        let Some(s) = self.secrets.get(user) else {
            return false;
        };
        if let Some(h) = &s.sha256 {
            return crate::auth::equal(&caching_sha2::stored_hash(password), h);
        }
        if let Some(h) = &s.native {
            return crate::auth::equal(&native::stored_hash(password), h);
        }
        self.users
            .get(user)
            .and_then(|entry| entry.scram.as_ref())
            .is_some_and(|scram| scram.matches_password(password))
    }
}

/// MySQL's own net_write_timeout default.
pub const DEFAULT_CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The MySQL listeners' shared state: the protocol-independent part (routes, auth,
/// TLS, limits, sessions) and what only MySQL has.
pub struct Frontend {
    core: FrontendCore<Route, AuthConfig>,
    pub kills: Arc<KillRegistry>,
    /// Where sessions and server connections are listed (SHOW CLIENTS, KILL_CLIENT).
    pub activity: Arc<Activity>,
    /// Largest command a client may send.
    pub max_packet: usize,
    /// How long sluice waits for a client to read a result before ending its session.
    pub client_write_timeout: Duration,
    /// For caching_sha2_password logins without TLS: the configured key, else one
    /// generated at the first such login (generation takes a moment).
    rsa: tokio::sync::OnceCell<Arc<RsaKey>>,
}

/// Counts a client against the global and route limits while it lives.
pub type ClientSlot = pool_core::frontend::ClientSlot<Route>;

impl Frontend {
    pub fn new(
        routes: HashMap<String, Arc<Route>>,
        auth: AuthConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        max_clients: usize,
        auth_timeout: Duration,
        max_packet: usize,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            core: FrontendCore::new(routes, auth, tls, max_clients, auth_timeout, shutdown),
            kills: Arc::new(KillRegistry::default()),
            activity: Arc::default(),
            max_packet,
            client_write_timeout: DEFAULT_CLIENT_WRITE_TIMEOUT,
            rsa: tokio::sync::OnceCell::new(),
        }
    }

    /// Uses `key` for the RSA exchange instead of a generated one; false when a key
    /// is already in use (the key is fixed for the life of the process).
    pub fn set_rsa_key(&self, key: RsaKey) -> bool {
        self.rsa.set(Arc::new(key)).is_ok()
    }

    pub async fn rsa_key(&self) -> Arc<RsaKey> {
        self.rsa
            .get_or_init(|| async {
                let started = std::time::Instant::now();
                let key = tokio::task::spawn_blocking(RsaKey::generate)
                    .await
                    .expect("RSA key generation does not panic");
                tracing::info!(took = ?started.elapsed(), "generated the RSA key for caching_sha2_password logins without TLS");
                Arc::new(key)
            })
            .await
            .clone()
    }

    /// The version string clients see: a member's, so that drivers enable the
    /// features that member has.
    pub fn server_version(&self) -> String {
        self.routes()
            .values()
            .find_map(|r| r.cluster.version())
            .unwrap_or_else(|| "8.0.40-sluice".to_owned())
    }

    /// Status flags for sluice's greeting, from the member whose version it shows
    /// (see [`Cluster::status_flags`](crate::members::Cluster::status_flags)).
    pub fn server_flags(&self) -> u16 {
        self.routes()
            .values()
            .map(|r| &r.cluster)
            .find(|c| c.version().is_some())
            .map_or(0, |c| c.status_flags())
    }
}

impl Deref for Frontend {
    type Target = FrontendCore<Route, AuthConfig>;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}
