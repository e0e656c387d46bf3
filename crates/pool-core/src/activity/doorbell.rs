//! How a session learns, between two of its own events, that it must end: the
//! administrator killed it, or the replica drains or closes. Rare events, looked for on
//! every wait of the hot path: a wait polls one atomic and registers its waker in place
//! (no lock, no list), and ringing sets a bit that stays set.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

/// The session was killed (KILL_CLIENT, KILL).
pub const KILLED: u8 = 1;
/// The replica drains: sessions end between their transactions.
pub const DRAINING: u8 = 2;
/// The replica closes: sessions end now.
pub const CLOSING: u8 = 4;

#[derive(Default)]
pub struct Doorbell {
    rung: AtomicU8,
    waker: AtomicWaker,
}

impl Doorbell {
    /// Sets `bits` for good and wakes the session's wait, if it waits.
    pub fn ring(&self, bits: u8) {
        self.rung.fetch_or(bits, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Whether any of `bits` was rung.
    pub fn is_rung(&self, bits: u8) -> bool {
        self.rung.load(Ordering::SeqCst) & bits != 0
    }

    /// Resolves once any of `bits` is rung. One session waits at a time: a second
    /// concurrent waiter would take the first one's place.
    pub fn rung(&self, bits: u8) -> Rung<'_> {
        Rung { bell: self, bits }
    }
}

/// The wait of [`Doorbell::rung`].
pub struct Rung<'a> {
    bell: &'a Doorbell,
    bits: u8,
}

impl Future for Rung<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.bell.is_rung(self.bits) {
            return Poll::Ready(());
        }
        self.bell.waker.register(cx.waker());
        // Looked at again after registering: a ring in between is not missed.
        if self.bell.is_rung(self.bits) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_wait_ends_on_its_bits_only() {
        let bell = Arc::new(Doorbell::default());
        assert!(!bell.is_rung(KILLED | CLOSING));
        let ringer = bell.clone();
        let waiter = tokio::spawn(async move {
            ringer.rung(KILLED).await;
            ringer.is_rung(KILLED)
        });
        bell.ring(DRAINING);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "woke for a bit it does not wait for");
        bell.ring(KILLED);
        assert!(waiter.await.unwrap());
        // Bits stay set: a later wait ends at once.
        bell.rung(DRAINING).await;
        assert!(bell.is_rung(DRAINING) && !bell.is_rung(CLOSING));
    }
}
