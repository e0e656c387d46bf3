//! The accept loops of the read-write and read-only listeners.

use std::sync::Arc;

use pool_core::shutdown::Phase;
use tokio::net::TcpListener;

use crate::frontend::Frontend;
use crate::route::Access;
use crate::session::serve_client;

/// Accepts clients until shutdown starts draining; each client runs in its own task.
pub async fn run(listener: TcpListener, fe: Arc<Frontend>, access: Access) {
    let mut shutdown = fe.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve_client(fe.clone(), tcp, peer, access));
                }
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.reached(Phase::Draining) => break,
        }
    }
    tracing::info!(?access, "MySQL listener stopped accepting");
}
