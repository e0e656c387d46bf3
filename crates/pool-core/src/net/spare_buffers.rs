//! Buffers of sessions that went idle, kept by the worker thread for the next session
//! that speaks. An idle client holds no buffer (10,000 idle clients cost their sockets
//! and session state, not 10,000 read buffers), and a busy client does not allocate one
//! per request either: between two transactions it gives its buffers back and takes
//! them (or another session's) again when its next request arrives. Each worker runs
//! its sessions on its own thread, so the store is per thread and needs no lock.

use std::cell::RefCell;

use bytes::BytesMut;

/// The size a buffer is made with.
pub const BUFFER_SIZE: usize = 4096;
/// Buffers larger than this (grown for a large message) are freed, not kept.
const LARGEST_KEPT: usize = 4 * BUFFER_SIZE;
/// Buffers kept per thread: enough for the sessions busy at once, bounded in memory.
const MAX_KEPT: usize = 512;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least [`BUFFER_SIZE`] bytes.
pub fn take() -> BytesMut {
    SPARE
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(BUFFER_SIZE))
}

/// Gives `buf` back for another session; its content is dropped. A buffer that grew
/// large, or one still sharing its memory with a message in flight, is freed instead.
pub fn give_back(mut buf: BytesMut) {
    buf.clear();
    // Reading and writing moved its start forward: `try_reclaim` moves it back, which
    // it can only when the buffer owns its memory alone (no message in flight shares
    // it).
    if !buf.try_reclaim(BUFFER_SIZE) || buf.capacity() > LARGEST_KEPT {
        return;
    }
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < MAX_KEPT {
            spare.push(buf);
        }
    });
}

/// Gives back `buf` if it holds nothing, leaving an empty, unallocated buffer in its
/// place.
pub fn give_back_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        give_back(std::mem::take(buf));
    }
}

/// Makes sure `buf` has room to read into, taking a spare buffer when it has none.
pub fn ensure(buf: &mut BytesMut) {
    if buf.capacity() == 0 {
        *buf = take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffers this thread keeps now.
    fn kept() -> usize {
        SPARE.with(|spare| spare.borrow().len())
    }

    #[test]
    fn buffers_are_reused_and_large_ones_freed() {
        let mut buf = take();
        assert!(buf.capacity() >= BUFFER_SIZE);
        buf.extend_from_slice(b"hello");
        let at = buf.as_ptr();
        give_back(buf);
        let again = take();
        assert_eq!(
            again.as_ptr(),
            at,
            "the buffer given back is handed out again"
        );
        assert!(again.is_empty());

        give_back(again);
        assert_eq!(kept(), 1);
        let mut big = BytesMut::with_capacity(LARGEST_KEPT * 2);
        big.extend_from_slice(b"x");
        give_back(big);
        assert_eq!(kept(), 1, "a large buffer is not kept");
    }

    #[test]
    fn a_buffer_read_from_is_kept_whole() {
        let mut buf = take();
        buf.extend_from_slice(b"message");
        drop(buf.split_to(3));
        bytes::Buf::advance(&mut buf, 4);
        give_back(buf);
        assert_eq!(kept(), 1);
        assert!(take().capacity() >= BUFFER_SIZE);
    }

    #[test]
    fn a_buffer_shared_with_a_message_is_not_kept() {
        let mut buf = take();
        buf.extend_from_slice(b"message");
        let message = buf.split_to(3).freeze();
        give_back(buf);
        // The message still holds that memory: the buffer was freed, not kept.
        assert_eq!(kept(), 0);
        drop(message);
    }

    #[test]
    fn idle_buffers_are_given_back_and_taken_on_demand() {
        let mut buf = BytesMut::new();
        ensure(&mut buf);
        assert!(buf.capacity() >= BUFFER_SIZE);
        give_back_if_empty(&mut buf);
        assert_eq!(buf.capacity(), 0, "an empty buffer is given back");
        ensure(&mut buf);
        buf.extend_from_slice(b"x");
        give_back_if_empty(&mut buf);
        assert_eq!(&buf[..], b"x", "a buffer with content is kept");
    }
}
