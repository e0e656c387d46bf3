//! What a Vault role source holds whatever the kind of role: the role's address, the
//! Vault client, its metrics, its kind's state behind a lock, and the lock that lets
//! one fetch run at a time (callers that waited use its result).

use std::sync::{Arc, Mutex, MutexGuard};

use super::client::Vault;
use super::metrics::SourceMetrics;

pub(super) struct RoleInner<S> {
    pub(super) vault: Arc<Vault>,
    pub(super) mount: String,
    pub(super) role: String,
    /// `static:<mount>/<role>` or `dynamic:<mount>/<role>`, for logs and metrics.
    pub(super) name: String,
    state: Mutex<S>,
    pub(super) fetching: tokio::sync::Mutex<()>,
    pub(super) metrics: SourceMetrics,
}

impl<S: Default> RoleInner<S> {
    pub(super) fn new(vault: Arc<Vault>, kind: &str, mount: &str, role: &str) -> Self {
        let name = format!("{kind}:{mount}/{role}");
        Self {
            vault,
            mount: mount.to_owned(),
            role: role.to_owned(),
            metrics: SourceMetrics::new(&name),
            name,
            state: Mutex::new(S::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn state(&self) -> MutexGuard<'_, S> {
        self.state.lock().expect("role state poisoned")
    }
}
