//! The running client sessions of one listener side, so a drain can wait for them to
//! end instead of polling a counter.

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

#[derive(Debug, Default, Clone)]
pub struct Sessions {
    tracker: TaskTracker,
}

impl Sessions {
    /// Runs a client session in its own task, tracked until it ends.
    pub fn spawn<F>(&self, session: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(session);
    }

    /// Waits up to `limit` for every session to end; true when none is left. New
    /// sessions can still be spawned afterwards (a drain that times out goes on to
    /// close them).
    pub async fn wait_for_all(&self, limit: Duration) -> bool {
        self.tracker.close();
        let ended = tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok();
        self.tracker.reopen();
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_sessions_to_end() {
        let sessions = Sessions::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        sessions.spawn(async move {
            let _ = rx.await;
        });
        assert!(!sessions.wait_for_all(Duration::from_millis(20)).await);
        tx.send(()).unwrap();
        assert!(sessions.wait_for_all(Duration::from_secs(5)).await);
    }
}
