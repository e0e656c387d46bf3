//! State shared by every client session of the PostgreSQL listener: routes, client
//! authentication rules and users, TLS, cancel keys, limits. Routes and auth are
//! swapped whole on reload, so a session keeps the snapshot it started with.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pool_core::hba::HbaRules;
use pool_core::shutdown::Shutdown;
use pool_core::users::Users;

use crate::auth::scram::ScramVerifier;
use crate::cancel::CancelRegistry;
use crate::route::Route;

/// Iterations for verifiers sluice derives from plain-text passwords in the users file.
const DERIVED_SCRAM_ITERATIONS: u32 = 4096;

/// Client authentication: who may connect, and how they prove it.
pub struct AuthConfig {
    pub hba: HbaRules,
    pub users: Users,
    /// SCRAM verifiers per user, parsed or derived once at load.
    scram: HashMap<String, ScramVerifier>,
}

impl AuthConfig {
    pub fn new(hba: HbaRules, users: Users) -> Self {
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
        Self { hba, users, scram }
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

pub struct Frontend {
    routes: RwLock<Arc<HashMap<String, Arc<Route>>>>,
    auth: RwLock<Arc<AuthConfig>>,
    tls: RwLock<Option<Arc<rustls::ServerConfig>>>,
    pub cancels: Arc<CancelRegistry>,
    max_clients: AtomicUsize,
    clients: AtomicUsize,
    pub auth_timeout: Duration,
    pub shutdown: Shutdown,
}

/// Counts a client against the global and route limits while it lives.
pub struct ClientSlot {
    frontend: Arc<Frontend>,
    route: Option<Arc<Route>>,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.frontend.clients.fetch_sub(1, Ordering::Relaxed);
        if let Some(r) = &self.route {
            r.clients.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl ClientSlot {
    /// Counts the client against its route too; false when the route is full.
    pub fn join_route(&mut self, route: &Arc<Route>) -> bool {
        let n = route.clients.fetch_add(1, Ordering::Relaxed) + 1;
        self.route = Some(route.clone());
        route.settings.max_clients.is_none_or(|max| n <= max)
    }
}

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
            routes: RwLock::new(Arc::new(routes)),
            auth: RwLock::new(Arc::new(auth)),
            tls: RwLock::new(tls),
            cancels: Arc::new(CancelRegistry::default()),
            max_clients: AtomicUsize::new(max_clients),
            clients: AtomicUsize::new(0),
            auth_timeout,
            shutdown,
        }
    }

    pub fn route(&self, database: &str) -> Option<Arc<Route>> {
        self.routes
            .read()
            .expect("routes poisoned")
            .get(database)
            .cloned()
    }

    pub fn routes(&self) -> Arc<HashMap<String, Arc<Route>>> {
        self.routes.read().expect("routes poisoned").clone()
    }

    pub fn set_routes(&self, routes: HashMap<String, Arc<Route>>) {
        *self.routes.write().expect("routes poisoned") = Arc::new(routes);
    }

    pub fn auth(&self) -> Arc<AuthConfig> {
        self.auth.read().expect("auth poisoned").clone()
    }

    pub fn set_auth(&self, auth: AuthConfig) {
        *self.auth.write().expect("auth poisoned") = Arc::new(auth);
    }

    pub fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.read().expect("tls poisoned").clone()
    }

    pub fn set_tls(&self, tls: Option<Arc<rustls::ServerConfig>>) {
        *self.tls.write().expect("tls poisoned") = tls;
    }

    pub fn set_max_clients(&self, n: usize) {
        self.max_clients.store(n, Ordering::Relaxed);
    }

    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Counts a new client; `None` when sluice is at its global limit.
    pub fn admit(self: &Arc<Self>) -> (ClientSlot, bool) {
        let n = self.clients.fetch_add(1, Ordering::Relaxed) + 1;
        let ok = n <= self.max_clients.load(Ordering::Relaxed);
        (
            ClientSlot {
                frontend: self.clone(),
                route: None,
            },
            ok,
        )
    }
}
