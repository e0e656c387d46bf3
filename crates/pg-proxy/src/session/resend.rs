//! A request the server never answered because it went away (the primary stopped for a
//! switchover or a restart) is sent again, on the next server connection, when that is
//! certain to be safe: the client was between transactions, and the server ended the
//! connection with FATAL admin_shutdown, crash_shutdown or cannot_connect_now (or
//! refused the request's bytes) before any of the request's commands completed, any row
//! or notice came, or anything of its outcome reached the client. PostgreSQL sends that
//! FATAL only where it checks for interrupts, never inside a commit, so a request that
//! got it first did not commit (a commit waiting for a synchronous standby warns first,
//! and the warning ends the window). A connection that just closes proves nothing, and
//! its request is failed instead (`server_gone.rs`).
//!
//! While a request may be sent again sluice keeps a copy of the client's messages since
//! the server was attached, holds back the replies it has (ParseComplete and the like,
//! which the client gets with the rest a moment later), and notes the changes
//! translating them made to the client's view, so they can be undone and the copy
//! translated anew for the next server.

use bytes::BytesMut;

use super::view_change::ViewChange;
use crate::protocol::tags::frontend as tag;

/// Largest request kept for sending again; a larger one is not.
const MAX_KEPT: usize = 64 * 1024;
/// How many times one request is sent again before the client gets the error.
pub(super) const MAX_RESENDS: u8 = 3;

/// Whether the request under way can still be sent to another server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    /// Something of its outcome was seen, or it began inside a transaction.
    Shut,
    /// Nothing of its outcome was seen yet: it is kept.
    Open,
    /// Its server went away: it is to be sent again.
    Due,
}

pub(super) struct Resend {
    window: Window,
    /// The client's messages since the server was attached.
    frames: BytesMut,
    /// View changes of those messages that were already confirmed (their replies
    /// matched), latest last.
    confirmed: Vec<ViewChange>,
    /// Times the current request was sent again.
    attempts: u8,
}

impl Default for Resend {
    fn default() -> Self {
        Self {
            window: Window::Shut,
            frames: BytesMut::new(),
            confirmed: Vec::new(),
            attempts: 0,
        }
    }
}

impl Resend {
    /// A server was attached between transactions: what the client sends next is kept.
    pub fn open(&mut self) {
        self.window = Window::Open;
        self.frames.clear();
        self.confirmed.clear();
    }

    /// Something of the outcome reached (or is about to reach) the client, or the
    /// request cannot be replayed: it is not sent again.
    pub fn shut(&mut self) {
        if self.window != Window::Shut {
            self.window = Window::Shut;
            self.attempts = 0;
            self.frames.clear();
            self.confirmed.clear();
        }
    }

    pub fn is_open(&self) -> bool {
        self.window == Window::Open
    }

    /// The server went away in the window: whether the request may be sent again (it
    /// is then due), or has been sent too often already.
    pub fn make_due(&mut self) -> bool {
        if self.window != Window::Open || self.attempts >= MAX_RESENDS {
            return false;
        }
        self.window = Window::Due;
        self.attempts += 1;
        true
    }

    pub fn is_due(&self) -> bool {
        self.window == Window::Due
    }

    /// Keeps a client message translated in the window. A COPY, a Flush (the client
    /// waits for replies before it goes on, so they are not held back) or a request
    /// too large to keep shuts it.
    pub fn keep(&mut self, t: u8, frame: &[u8]) {
        if self.window != Window::Open {
            return;
        }
        let replayable = !matches!(
            t,
            tag::COPY_DATA | tag::COPY_DONE | tag::COPY_FAIL | tag::FLUSH
        );
        if replayable && self.frames.len() + frame.len() <= MAX_KEPT {
            self.frames.extend_from_slice(frame);
        } else {
            self.shut();
        }
    }

    /// A change whose message the server (or sluice) confirmed in the window.
    pub fn confirmed(&mut self, change: ViewChange) {
        if self.window == Window::Open && !matches!(change, ViewChange::None) {
            self.confirmed.push(change);
        }
    }

    /// The request to send again and the confirmed changes to undo (latest last);
    /// the window opens again at the next attachment.
    pub fn take_due(&mut self) -> (BytesMut, Vec<ViewChange>) {
        debug_assert!(self.is_due());
        self.window = Window::Shut;
        (
            std::mem::take(&mut self.frames),
            std::mem::take(&mut self.confirmed),
        )
    }

    /// How many times the request was sent again, for the log.
    pub fn attempts(&self) -> u8 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const QUERY: &[u8] = b"Q\0\0\0\x0dselect 1\0";

    #[test]
    fn a_request_is_kept_until_its_outcome_shows() {
        let mut r = Resend::default();
        r.keep(tag::QUERY, QUERY);
        assert!(!r.make_due(), "nothing is kept before a server is attached");
        r.open();
        r.keep(tag::QUERY, QUERY);
        r.confirmed(ViewChange::None);
        r.confirmed(ViewChange::Defined {
            name: Bytes::from_static(b"s1"),
        });
        assert!(r.make_due());
        let (frames, confirmed) = r.take_due();
        assert_eq!(&frames[..], QUERY);
        assert_eq!(confirmed.len(), 1);
        assert!(!r.is_open());
    }

    #[test]
    fn copy_flush_and_large_requests_are_not_kept() {
        for t in [tag::COPY_DATA, tag::FLUSH] {
            let mut r = Resend::default();
            r.open();
            r.keep(t, b"x");
            assert!(!r.make_due());
        }
        let mut r = Resend::default();
        r.open();
        r.keep(tag::QUERY, &vec![0; MAX_KEPT + 1]);
        assert!(!r.make_due());
    }

    #[test]
    fn a_request_is_sent_again_a_bounded_number_of_times() {
        let mut r = Resend::default();
        for _ in 0..MAX_RESENDS {
            r.open();
            r.keep(tag::QUERY, QUERY);
            assert!(r.make_due());
            r.take_due();
        }
        r.open();
        assert!(!r.make_due());
        // Once the client saw an outcome, the next request has its own attempts.
        r.shut();
        r.open();
        assert!(r.make_due());
    }
}
