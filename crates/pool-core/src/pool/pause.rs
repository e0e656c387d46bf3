//! PAUSE for a pool: while paused, new checkouts wait before they queue, holding no
//! slot and no place in the pool's queue, so the connections already checked out
//! can come back and stay idle (an operator's switchover). Resuming releases every
//! waiter at once; the pool then serves them in its usual order.

use tokio::sync::watch;

#[derive(Debug)]
pub struct PauseGate {
    paused: watch::Sender<bool>,
}

impl Default for PauseGate {
    fn default() -> Self {
        Self {
            paused: watch::channel(false).0,
        }
    }
}

impl PauseGate {
    pub fn pause(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Returns at once when not paused, else when resumed.
    pub async fn pass(&self) {
        if !self.is_paused() {
            return;
        }
        let mut rx = self.paused.subscribe();
        // The sender lives as long as the gate, which the caller borrows.
        let _ = rx.wait_for(|paused| !paused).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_paused_gate_holds_callers_until_resumed() {
        let gate = Arc::new(PauseGate::default());
        gate.pass().await;
        gate.pause();
        assert!(gate.is_paused());
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.pass().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        gate.resume();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
