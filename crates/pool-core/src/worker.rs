//! Which worker thread the caller runs on. sluice runs one single-threaded runtime per
//! core, each with its own listener and its own share of every pool, so that a session
//! and the server connections it uses are driven by the same thread.

use std::cell::Cell;

thread_local! {
    static INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks the current thread as worker `index`.
pub fn set_current(index: usize) {
    INDEX.with(|i| i.set(Some(index)));
}

/// The index of the worker thread the caller runs on, if it runs on one.
pub fn current() -> Option<usize> {
    INDEX.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_per_thread() {
        assert_eq!(current(), None);
        set_current(3);
        assert_eq!(current(), Some(3));
        std::thread::spawn(|| assert_eq!(current(), None))
            .join()
            .unwrap();
    }
}
