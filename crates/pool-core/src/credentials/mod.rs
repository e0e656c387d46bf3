//! Where server-side database credentials come from. Sessions never see a database
//! password: a route asks its source for the current username and password each time it
//! opens a server connection, and tells it when the database refused them.

mod deadline;
mod file;
pub mod vault;

pub use deadline::RetireDeadline;
pub use file::FileSource;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::secret::Secret;

/// A username and password for opening server connections.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
    /// Distinguishes successive credentials of one source (rotations), for metrics and logs.
    pub generation: u64,
    /// Set for credentials that stop working at a known time (a Vault lease): server
    /// connections opened with them must be closed before it.
    pub retire: Option<Arc<RetireDeadline>>,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: Secret, generation: u64) -> Self {
        Self {
            username: username.into(),
            password,
            generation,
            retire: None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("generation", &self.generation)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read credentials from {source_name}: {reason}")]
    Unavailable { source_name: String, reason: String },
}

/// How a source is doing, for readiness and the admin interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceHealth {
    Ok,
    /// Its backend fails, but cached credentials still serve new connections.
    Degraded(String),
    /// No usable credentials: new server connections cannot be opened.
    Failed(String),
}

pub type CredentialFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<Credentials>, CredentialError>> + Send + 'a>>;

/// A provider of server credentials, shared by every pool of a route.
pub trait CredentialSource: Send + Sync + 'static {
    /// The credentials to use for the next server connection.
    fn current(&self) -> CredentialFuture<'_>;

    /// The database rejected `stale`: drop it so the next `current` fetches anew.
    fn invalidate(&self, stale: &Credentials);

    /// A name for logs and metrics; never contains a secret.
    fn describe(&self) -> String;

    /// Whether the source can serve credentials now.
    fn health(&self) -> SourceHealth {
        SourceHealth::Ok
    }

    /// Gives back what the source holds (revokes leases) when sluice stops.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}
