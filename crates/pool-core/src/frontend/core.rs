//! The protocol-independent part of a listener side's shared state. A protocol's
//! `Frontend` holds one and adds what only it has (cancel keys, KILL ids, RSA key).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::admission::{Admission, ClientSlot, CountsClients};
use super::sessions::Sessions;
use crate::shutdown::Shutdown;

/// Routes by the database name a client asks for.
pub type Routes<R> = Arc<HashMap<String, Arc<R>>>;

/// Routes and authentication are swapped whole on reload: a session keeps the
/// snapshot it started with.
pub struct FrontendCore<R, A> {
    routes: RwLock<Routes<R>>,
    auth: RwLock<Arc<A>>,
    tls: RwLock<Option<Arc<rustls::ServerConfig>>>,
    admission: Arc<Admission>,
    /// The client sessions running now.
    pub sessions: Sessions,
    /// How long a client may take from connecting to being authenticated.
    pub auth_timeout: Duration,
    pub shutdown: Shutdown,
}

impl<R: CountsClients, A> FrontendCore<R, A> {
    pub fn new(
        routes: HashMap<String, Arc<R>>,
        auth: A,
        tls: Option<Arc<rustls::ServerConfig>>,
        max_clients: usize,
        auth_timeout: Duration,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            routes: RwLock::new(Arc::new(routes)),
            auth: RwLock::new(Arc::new(auth)),
            tls: RwLock::new(tls),
            admission: Arc::new(Admission::new(max_clients)),
            sessions: Sessions::default(),
            auth_timeout,
            shutdown,
        }
    }

    pub fn route(&self, database: &str) -> Option<Arc<R>> {
        self.routes
            .read()
            .expect("routes poisoned")
            .get(database)
            .cloned()
    }

    pub fn routes(&self) -> Routes<R> {
        self.routes.read().expect("routes poisoned").clone()
    }

    pub fn set_routes(&self, routes: HashMap<String, Arc<R>>) {
        *self.routes.write().expect("routes poisoned") = Arc::new(routes);
    }

    pub fn auth(&self) -> Arc<A> {
        self.auth.read().expect("auth poisoned").clone()
    }

    pub fn set_auth(&self, auth: A) {
        *self.auth.write().expect("auth poisoned") = Arc::new(auth);
    }

    pub fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.read().expect("tls poisoned").clone()
    }

    pub fn set_tls(&self, tls: Option<Arc<rustls::ServerConfig>>) {
        *self.tls.write().expect("tls poisoned") = tls;
    }

    pub fn set_max_clients(&self, n: usize) {
        self.admission.set_max(n);
    }

    /// Clients counted now (admitted and not yet gone).
    pub fn client_count(&self) -> usize {
        self.admission.count()
    }

    /// Counts a new client; the flag is false when the listener is at its global limit.
    pub fn admit(&self) -> (ClientSlot<R>, bool) {
        self.admission.admit()
    }
}
