//! The peer channel's listener: each connection carries one signed request from a
//! peer, carried out here by the [`PeerHandler`] against this replica's own keys only.
//! Nothing received here is forwarded again, so a request cannot loop between peers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::identity::ReplicaId;
use super::wire::{self, Outcome, Request, MAC_LEN, MAX_BODY, NONCE_LEN};
use crate::secret::Secret;
use crate::shutdown::{Phase, Shutdown};

/// A peer that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A request carried out takes at most this long (a cancel waits for the server).
const HANDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Carries out a peer's request on this replica's own sessions.
pub trait PeerHandler: Send + Sync + 'static {
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>>;
}

/// Serves the peer channel until sluice closes.
pub async fn serve(
    listener: TcpListener,
    me: ReplicaId,
    secret: Arc<Secret>,
    handler: Arc<dyn PeerHandler>,
    mut shutdown: Shutdown,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, from)) = accepted {
                    let (secret, handler) = (secret.clone(), handler.clone());
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, me, &secret, &*handler).await {
                            tracing::warn!(peer = %from, error = %e, "peer request refused");
                        }
                    });
                }
            }
            _ = shutdown.reached(Phase::Closing) => return,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("no request within {0:?}")]
    Timeout(Duration),
}

async fn answer(
    mut stream: TcpStream,
    me: ReplicaId,
    secret: &Secret,
    handler: &dyn PeerHandler,
) -> Result<(), AnswerError> {
    let _ = stream.set_nodelay(true);
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    stream.write_all(&nonce).await?;
    let (body, signature) = tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream))
        .await
        .map_err(|_| AnswerError::Timeout(READ_TIMEOUT))??;
    let request = wire::verify(secret.expose().as_bytes(), &nonce, &body, &signature)?;
    let kind = kind_label(&request);
    let outcome = match request {
        Request::Hello => Outcome::Done,
        request => tokio::time::timeout(HANDLE_TIMEOUT, handler.handle(request))
            .await
            .unwrap_or(Outcome::Failed),
    };
    metrics::counter!("sluice_peer_requests_served_total", "kind" => kind, "outcome" => outcome.as_str()).increment(1);
    stream.write_all(&wire::encode_reply(outcome, me)).await?;
    Ok(())
}

async fn read_request(stream: &mut TcpStream) -> Result<(Vec<u8>, Vec<u8>), AnswerError> {
    let len = stream.read_u16().await? as usize;
    if len == 0 || len > MAX_BODY {
        return Err(wire::WireError::Malformed("length").into());
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    let mut signature = vec![0u8; MAC_LEN];
    stream.read_exact(&mut signature).await?;
    Ok((body, signature))
}

pub(super) fn kind_label(request: &Request) -> &'static str {
    match request {
        Request::Hello => "hello",
        Request::Cancel { .. } => "cancel",
        Request::Kill { .. } => "kill",
    }
}
