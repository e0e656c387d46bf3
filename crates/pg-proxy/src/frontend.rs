//! State shared by every client session of the PostgreSQL listener: routes, client
//! authentication rules and users, TLS, cancel keys, limits. Routes and auth are
//! swapped whole on reload, so a session keeps the snapshot it started with; all
//! but the users' secrets and the cancel keys is pool-core's `FrontendCore`.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use pool_core::frontend::FrontendCore;
use pool_core::hba::HbaRules;
use pool_core::shutdown::Shutdown;
use pool_core::users::{DatabaseUsers, Users};

use crate::auth::scram::ScramVerifier;
use crate::cancel::CancelRegistry;
use crate::route::Route;

/// Iterations for verifiers sluice derives from plain-text passwords in the users file.
const DERIVED_SCRAM_ITERATIONS: u32 = 4096;

/// Client authentication: who may connect, and how they prove it.
pub struct AuthConfig {
    pub hba: HbaRules,
    pub users: Users,
    /// The databases bound to users, and who they admit.
    pub databases: DatabaseUsers,
    /// SCRAM verifiers per user, parsed or derived once at load.
    scram: HashMap<String, ScramVerifier>,
}

impl AuthConfig {
    pub fn new(hba: HbaRules, users: Users, databases: DatabaseUsers) -> Self {
        let mut scram = HashMap::new();
        for entry in users.iter() {
            let verifier = match (&entry.scram, &entry.password) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(pw)) => {
                    let salt: [u8; 16] = rand::random();
                    Some(ScramVerifier::from_password(
                        pw.expose(),
                        &salt,
                        DERIVED_SCRAM_ITERATIONS,
                    ))
                }
                (None, None) => None,
            };
            if let Some(v) = verifier {
                scram.insert(entry.name.clone(), v);
            }
        }
        Self {
            hba,
            users,
            databases,
            scram,
        }
    }

    pub fn scram_verifier(&self, user: &str) -> Option<&ScramVerifier> {
        self.scram.get(user)
    }

    /// The stored md5 hash (`md5` + hex) for a user, from the file or its password.
    pub fn md5_secret(&self, user: &str) -> Option<String> {
        let entry = self.users.get(user)?;
        if let Some(h) = &entry.md5 {
            return Some(h.expose().to_owned());
        }
        entry
            .password
            .as_ref()
            .map(|pw| crate::auth::md5::md5_hash(user, pw.expose()))
    }
}

/// `client_write_timeout` unless configured.
pub const DEFAULT_CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The PostgreSQL listener's shared state: the protocol-independent part (routes,
/// auth, TLS, limits, sessions) and the cancel keys.
pub struct Frontend {
    core: FrontendCore<Route, AuthConfig>,
    pub cancels: Arc<CancelRegistry>,
    /// How long sluice waits for a client to read what it sends before ending its
    /// session (a stalled client would otherwise hold its server connection).
    pub client_write_timeout: Duration,
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
        shutdown: Shutdown,
    ) -> Self {
        Self {
            core: FrontendCore::new(routes, auth, tls, max_clients, auth_timeout, shutdown),
            cancels: Arc::new(CancelRegistry::default()),
            client_write_timeout: DEFAULT_CLIENT_WRITE_TIMEOUT,
        }
    }
}

impl Deref for Frontend {
    type Target = FrontendCore<Route, AuthConfig>;

    fn deref(&self) -> &Self::Target {
        &self.core
    }
}
