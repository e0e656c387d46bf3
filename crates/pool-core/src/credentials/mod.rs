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

/// How long [`refetch_after_refusal`] waits for credentials other than the refused ones.
const REFETCH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);
const REFETCH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// The database refused `stale`: drops them from `source` and fetches again. A rotation
/// changes the database first and the source's answer a moment later, so while the
/// source still answers with the refused password, this asks again for a short while
/// before giving up with what it has.
pub async fn refetch_after_refusal(
    source: &dyn CredentialSource,
    stale: &Credentials,
) -> Result<Arc<Credentials>, CredentialError> {
    let deadline = tokio::time::Instant::now() + REFETCH_PATIENCE;
    source.invalidate(stale);
    loop {
        let fresh = source.current().await?;
        let same =
            fresh.username == stale.username && fresh.password.expose() == stale.password.expose();
        if !same || tokio::time::Instant::now() >= deadline {
            return Ok(fresh);
        }
        tokio::time::sleep(REFETCH_EVERY).await;
        // What the source just gave is as refused as what came before.
        source.invalidate(&fresh);
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A rotation changes the database first and the source a moment later: the
    /// refetch waits for the new password instead of retrying with the refused one.
    #[tokio::test]
    async fn refetch_waits_for_the_source_to_catch_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "old\n").unwrap();
        let source = FileSource::new("app", &path);
        let refused = source.current().await.unwrap();
        let writer = {
            let path = path.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                std::fs::write(&path, "new\n").unwrap();
            })
        };
        let fresh = refetch_after_refusal(&source, &refused).await.unwrap();
        assert_eq!(fresh.password.expose(), "new");
        assert!(fresh.generation > refused.generation);
        writer.await.unwrap();
        // When nothing new comes, it gives up after its patience with what it has.
        let started = std::time::Instant::now();
        let same = refetch_after_refusal(&source, &fresh).await.unwrap();
        assert_eq!(same.password.expose(), "new");
        assert!(started.elapsed() >= REFETCH_PATIENCE);
    }
}
