//! The pool [`Manager`] both protocols use: it fetches the route's credentials for
//! each new server connection, fetches them again and retries once when the server
//! refuses them (a rotation changes the database a moment before the source answers
//! with the new password), records which credentials generation is in use, retires
//! connections whose lease is ending, and counts all of it. The protocol supplies
//! only the [`Connector`]: how one attempt with given credentials goes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::activity::{Activity, ServerInfo, ServerListing};

use crate::credentials::{refetch_after_refusal, CredentialError, CredentialSource, Credentials};
use crate::pool::Manager;
use crate::route_metrics::RouteMetrics;

/// One protocol's way of opening a server connection with given credentials.
pub trait Connector: Send + Sync + 'static {
    type Conn: Send + 'static;
    type Error: std::error::Error + From<CredentialError> + Send + Sync + 'static;

    /// One attempt (which may try several hosts) with `creds`.
    fn connect(
        &self,
        creds: &Arc<Credentials>,
    ) -> impl Future<Output = Result<Self::Conn, Self::Error>> + Send;

    /// Whether the server refused the credentials themselves (worth a fresh fetch).
    fn is_refusal(error: &Self::Error) -> bool;

    /// The credentials a connection was opened with.
    fn credentials(conn: &Self::Conn) -> &Credentials;

    /// Where the attempt went, for the log line of a refusal.
    fn describe(&self) -> String;

    /// `postgres` or `mysql`, as SHOW SERVERS shows it.
    const PROTOCOL: &'static str;

    /// Where a connection goes and the server's id for it, for SHOW SERVERS.
    fn endpoint(conn: &Self::Conn) -> ConnEndpoint;
}

/// A server connection's ends and the server's own id for it.
#[derive(Debug, Clone, Copy)]
pub struct ConnEndpoint {
    pub addr: std::net::SocketAddr,
    pub local: Option<std::net::SocketAddr>,
    /// PostgreSQL's backend pid, MySQL's thread id.
    pub remote_pid: u32,
    pub tls: bool,
}

/// Opens server connections with the credentials of a route's source.
pub struct CredentialedManager<C: Connector> {
    pub connector: C,
    pub credentials: Arc<dyn CredentialSource>,
    /// Whether the latest attempt reached a usable server (for readiness).
    reachable: AtomicBool,
    /// Why the latest attempt failed, when it did (for readiness lines).
    last_error: std::sync::Mutex<Option<String>>,
    /// Highest credentials generation a server connection was opened with; shared by
    /// the managers of one route (one per member on the MySQL side).
    generation_seen: Arc<AtomicU64>,
    pub metrics: RouteMetrics,
    /// Where pool connections are listed for SHOW SERVERS, once set.
    activity: OnceLock<Arc<Activity>>,
}

impl<C: Connector> CredentialedManager<C> {
    pub fn new(
        connector: C,
        credentials: Arc<dyn CredentialSource>,
        generation_seen: Arc<AtomicU64>,
        metrics: RouteMetrics,
    ) -> Self {
        Self {
            connector,
            credentials,
            reachable: AtomicBool::new(false),
            last_error: std::sync::Mutex::new(None),
            generation_seen,
            metrics,
            activity: OnceLock::new(),
        }
    }

    /// Lists the pool's connections in `activity` from now on.
    pub fn list_in(&self, activity: Arc<Activity>) {
        let _ = self.activity.set(activity);
    }

    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// Why the latest attempt to open a connection failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("last error poisoned").clone()
    }

    /// Opens a connection outside the pool's accounting (a probe, a KILL QUERY),
    /// with the same refetch-and-retry-once on a refusal.
    pub async fn open(&self) -> Result<C::Conn, C::Error> {
        let mut creds = self.credentials.current().await?;
        let mut refetched = false;
        // One await on the connector: each await point of a future this large would
        // add its size to every session's future, which holds a checkout.
        loop {
            let error = match self.connector.connect(&creds).await {
                Ok(conn) => {
                    self.note_generation(&creds);
                    return Ok(conn);
                }
                Err(e) if C::is_refusal(&e) => e,
                Err(e) => return Err(e),
            };
            self.metrics.server_auth_failures.increment(1);
            if refetched {
                return Err(error);
            }
            tracing::warn!(
                route = %self.metrics.route, server = %self.connector.describe(), error = %error,
                "server refused credentials; fetching them again"
            );
            drop(error);
            // Rare (a rotation): boxed so that it does not add to the future's size.
            creds = Box::pin(refetch_after_refusal(&*self.credentials, &creds)).await?;
            refetched = true;
        }
    }

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

impl<C: Connector> Manager for CredentialedManager<C> {
    /// Boxed: the pool moves connections around, and a pointer moves cheaper than
    /// the connection with its buffers and caches.
    type Connection = Box<C::Conn>;
    type Error = C::Error;

    async fn connect(&self) -> Result<Box<C::Conn>, C::Error> {
        let started = std::time::Instant::now();
        let result = self.open().await.map(Box::new);
        self.reachable.store(result.is_ok(), Ordering::Relaxed);
        *self.last_error.lock().expect("last error poisoned") =
            result.as_ref().err().map(ToString::to_string);
        match &result {
            Ok(_) => {
                self.metrics.server_connects.increment(1);
                self.metrics
                    .server_connect_time
                    .record(started.elapsed().as_secs_f64());
            }
            Err(e) => {
                self.metrics.server_connect_errors.increment(1);
                tracing::warn!(route = %self.metrics.route, error = %e, "cannot open server connection");
            }
        }
        result
    }

    fn must_retire(&self, conn: &Box<C::Conn>, now: Instant) -> bool {
        let due = C::credentials(conn)
            .retire
            .as_ref()
            .is_some_and(|deadline| deadline.is_due(now));
        if due {
            self.metrics.server_retired.increment(1);
        }
        due
    }

    fn list(&self, conn: &Box<C::Conn>) -> Option<ServerListing> {
        let activity = self.activity.get()?;
        let end = C::endpoint(conn);
        Some(activity.add_server(ServerInfo {
            protocol: C::PROTOCOL,
            user: C::credentials(conn).username.clone(),
            database: self.metrics.route.clone(),
            addr: end.addr,
            local: end.local,
            remote_pid: end.remote_pid,
            tls: end.tls,
        }))
    }

    fn released(&self, held: std::time::Duration) {
        self.metrics.transaction_time.record(held.as_secs_f64());
    }
}

/// The manager adds credentials to its connector: what the connector knows (hosts,
/// the latest server's parameters) reads through the manager.
impl<C: Connector> std::ops::Deref for CredentialedManager<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.connector
    }
}
