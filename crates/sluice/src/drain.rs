//! Stopping sluice without cutting queries short: listeners stop accepting, clients get
//! `shutdown_grace` to finish, then the rest are told to go and every pool is closed.

use std::sync::Arc;
use std::time::Duration;

use pool_core::shutdown::{Phase, ShutdownController};

use crate::sides::Side;

/// How long clients still connected after the grace get to leave once told to.
const CLOSING_GRACE: Duration = Duration::from_secs(2);

pub async fn drain(sides: &[Arc<dyn Side>], shutdown: &ShutdownController, grace: Duration) {
    shutdown.set(Phase::Draining);
    for side in sides {
        for listener in side.take_listeners() {
            let _ = listener.await;
        }
    }
    wait_for_sessions(sides, grace, Duration::from_millis(50)).await;
    shutdown.set(Phase::Closing);
    wait_for_sessions(sides, CLOSING_GRACE, Duration::from_millis(20)).await;
    for side in sides {
        side.close();
    }
}

/// Waits until no side has a client, or `limit` has passed.
///
/// Polls the client counts every `every`: sessions are spawned untracked today, so
/// there is nothing to wait on. To be replaced by waiting on the proxies' session
/// tracker once sessions are tracked.
async fn wait_for_sessions(sides: &[Arc<dyn Side>], limit: Duration, every: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    let clients = || sides.iter().map(|s| s.client_count()).sum::<usize>();
    while clients() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(every).await;
    }
}
