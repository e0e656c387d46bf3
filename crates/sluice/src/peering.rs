//! This replica among its peers (`[peers]`): the cancel keys and MySQL connection ids
//! both listeners give out carry its replica id, and the peer channel carries out what
//! other replicas forward, against this replica's own keys only. Without `[peers]`
//! the replica stands alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use mysql_proxy::kill::{KillError, KillRegistry};
use pg_proxy::cancel::{CancelOutcome, CancelRegistry};
use pool_core::peers::{serve, Outcome, PeerHandler, PeerSet, Request};
use pool_core::shutdown::Shutdown;

use crate::config::PeersSettings;
use pool_core::activity::Activity;

/// The keys clients are given, shared by the listeners and the peer channel.
#[derive(Clone, Default)]
pub struct Keys {
    pub cancels: Arc<CancelRegistry>,
    pub kills: Arc<KillRegistry>,
    /// Every client and server connection of this replica, both protocols.
    pub activity: Arc<Activity>,
}

impl Keys {
    /// Alone, or with the peers of `settings`: finds them, picks an id none of them
    /// has, and serves the peer channel until sluice closes.
    pub async fn start(
        settings: Option<&PeersSettings>,
        shutdown: &Shutdown,
    ) -> anyhow::Result<Keys> {
        let Some(settings) = settings else {
            return Ok(Keys::default());
        };
        // Looking first: this replica's own address, among the peers', then refuses
        // at once instead of holding the look-up up until it times out.
        let peers = PeerSet::discover(settings.secret.clone(), settings.peers.clone()).await;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {} (peers)", settings.listen))?;
        let me = peers.me();
        let keys = Keys {
            cancels: Arc::new(CancelRegistry::new(me, Some(peers.clone()))),
            kills: Arc::new(KillRegistry::new(me, Some(peers.clone()))),
            activity: Arc::default(),
        };
        let handler: Arc<dyn PeerHandler> = Arc::new(keys.clone());
        tokio::spawn(serve(
            listener,
            me,
            settings.secret.clone(),
            handler,
            shutdown.clone(),
        ));
        tokio::spawn(peers.run(shutdown.clone()));
        Ok(keys)
    }
}

impl PeerHandler for Keys {
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Outcome> + Send + '_>> {
        Box::pin(async move {
            match request {
                Request::Hello => Outcome::Done,
                Request::Cancel {
                    process_id,
                    secret_key,
                } => match self.cancels.cancel_here(process_id, secret_key).await {
                    CancelOutcome::Sent => Outcome::Done,
                    CancelOutcome::Idle => Outcome::Idle,
                    CancelOutcome::UnknownKey => Outcome::Unknown,
                    CancelOutcome::Failed => Outcome::Failed,
                },
                Request::Kill {
                    connection_id,
                    user,
                    connection,
                } => match self.kills.kill_here(&user, connection_id, connection).await {
                    Ok(()) => Outcome::Done,
                    Err(KillError::UnknownThread) => Outcome::Unknown,
                    Err(KillError::NotOwner) => Outcome::Refused,
                    Err(KillError::Unreachable) => Outcome::Failed,
                },
            }
        })
    }
}
