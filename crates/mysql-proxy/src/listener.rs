//! The accept loops of the read-write and read-only listeners.

use std::sync::Arc;

use pool_core::frontend::accept_until_draining;
use tokio::net::TcpListener;

use crate::frontend::Frontend;
use crate::route::Access;
use crate::session::serve_client;

/// Accepts clients until shutdown starts draining; each client runs in its own
/// tracked task.
pub async fn run(listener: TcpListener, fe: Arc<Frontend>, access: Access) {
    accept_until_draining(listener, fe.shutdown.clone(), &fe.sessions, |tcp, peer| {
        serve_client(fe.clone(), tcp, peer, access)
    })
    .await;
    tracing::info!(?access, "MySQL listener stopped accepting");
}
