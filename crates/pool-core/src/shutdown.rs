//! Shutdown and drain signalling shared by listeners and sessions.

use tokio::sync::watch;

/// Phases of a shutdown, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    /// Stop accepting; let running transactions finish.
    Draining,
    /// Grace period over: close everything.
    Closing,
}

/// Sender side, held by the binary.
#[derive(Debug)]
pub struct ShutdownController {
    tx: watch::Sender<Phase>,
}

/// Receiver side, cloned into every listener and session.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<Phase>,
}

impl ShutdownController {
    pub fn new() -> (Self, Shutdown) {
        let (tx, rx) = watch::channel(Phase::Running);
        (Self { tx }, Shutdown { rx })
    }

    pub fn set(&self, phase: Phase) {
        self.tx.send_if_modified(|p| {
            if phase > *p {
                *p = phase;
                true
            } else {
                false
            }
        });
    }
}

impl Shutdown {
    pub fn phase(&self) -> Phase {
        *self.rx.borrow()
    }

    /// Resolves once the phase is at least `phase`.
    pub async fn reached(&mut self, phase: Phase) {
        let _ = self.rx.wait_for(|p| *p >= phase).await;
    }

    /// A receiver that never fires, for tests and tools.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(Phase::Running);
        std::mem::forget(tx);
        Self { rx }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn phases_only_move_forward() {
        let (ctl, mut sd) = ShutdownController::new();
        assert_eq!(sd.phase(), Phase::Running);
        ctl.set(Phase::Draining);
        sd.reached(Phase::Draining).await;
        ctl.set(Phase::Running);
        assert_eq!(sd.phase(), Phase::Draining);
        ctl.set(Phase::Closing);
        sd.reached(Phase::Closing).await;
    }
}
