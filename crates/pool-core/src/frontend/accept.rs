//! The accept loop of a listener, the same for both protocols: each client runs in
//! a tracked task of its own until shutdown starts draining.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use super::sessions::Sessions;
use crate::shutdown::{Phase, Shutdown};

/// Accepts clients until shutdown starts draining, starting `session` for each.
pub async fn accept_until_draining<F, S>(
    listener: TcpListener,
    mut shutdown: Shutdown,
    sessions: &Sessions,
    mut session: S,
) where
    S: FnMut(TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => sessions.spawn(session(tcp, peer)),
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.reached(Phase::Draining) => break,
        }
    }
}
