//! Stopping sluice without cutting queries short: listeners stop accepting, clients get
//! `shutdown_grace` to finish, then the rest are told to go and every pool is closed.

use std::sync::Arc;
use std::time::Duration;

use pool_core::shutdown::{Phase, ShutdownController};

use crate::sides::Side;

/// How long clients still connected after the grace get to leave once told to.
pub const CLOSING_GRACE: Duration = Duration::from_secs(2);

pub async fn drain(sides: &[Arc<dyn Side>], shutdown: &ShutdownController, grace: Duration) {
    shutdown.set(Phase::Draining);
    for side in sides {
        for listener in side.take_listeners() {
            let _ = listener.await;
        }
    }
    wait_for_sessions(sides, grace).await;
    shutdown.set(Phase::Closing);
    wait_for_sessions(sides, CLOSING_GRACE).await;
    for side in sides {
        side.close();
    }
}

/// Waits until every side's client sessions have ended, or `limit` has passed.
async fn wait_for_sessions(sides: &[Arc<dyn Side>], limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    for side in sides {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        side.sessions().wait_for_all(left).await;
    }
}
