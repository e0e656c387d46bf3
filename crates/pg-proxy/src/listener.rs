//! The accept loop of the PostgreSQL listener.

use std::sync::Arc;

use pool_core::frontend::accept_until_draining;
use tokio::net::TcpListener;

use crate::frontend::Frontend;
use crate::session::serve_client;

/// Accepts clients until shutdown starts draining; each client runs in its own
/// tracked task.
pub async fn run(listener: TcpListener, fe: Arc<Frontend>) {
    // Sessions hear of draining and closing on their doorbells.
    tokio::spawn(fe.activity.clone().ring_on_shutdown(fe.shutdown.clone()));
    accept_until_draining(listener, fe.shutdown.clone(), &fe.sessions, |tcp, peer| {
        serve_client(fe.clone(), tcp, peer)
    })
    .await;
    tracing::info!("PostgreSQL listener stopped accepting");
}
