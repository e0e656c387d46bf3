//! Where server-side database credentials come from. Sessions never see a database
//! password: a route asks its source for the current username and password each time it
//! opens a server connection, and tells it when the database refused them.

mod file;

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
}
