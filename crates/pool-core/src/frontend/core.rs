//! The protocol-independent part of a listener side's shared state. A protocol's
//! `Frontend` holds one and adds what only it has (cancel keys, KILL ids, RSA key).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::admission::{Admission, ClientSlot, CountsClients};
use super::handshakes::{HandshakeRefusal, HandshakeSlot, Handshakes};
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
    handshakes: Arc<Handshakes>,
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
            handshakes: Arc::new(Handshakes::default()),
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

    /// Counts an authenticated client; the flag is false when the listener is at its
    /// global limit.
    pub fn admit(&self) -> (ClientSlot<R>, bool) {
        self.admission.admit()
    }

    pub fn set_handshake_limits(&self, max_total: usize, max_per_address: usize) {
        self.handshakes.set_limits(max_total, max_per_address);
    }

    /// Handshakes in progress now.
    pub fn handshake_count(&self) -> usize {
        self.handshakes.count()
    }

    /// Counts a connection from `address` that has yet to authenticate, or says
    /// which cap it would exceed.
    pub fn begin_handshake(&self, address: IpAddr) -> Result<HandshakeSlot, HandshakeRefusal> {
        self.handshakes.begin(address)
    }
}
