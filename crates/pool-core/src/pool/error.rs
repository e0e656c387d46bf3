//! Errors returned by [`Pool::get`](super::Pool::get).

use std::time::Duration;

/// Why a checkout failed. `E` is the manager's connect error.
#[derive(thiserror::Error, Debug)]
pub enum PoolError<E> {
    /// No connection became available within the checkout timeout.
    #[error("timed out after {0:?} waiting for a connection")]
    Timeout(Duration),
    /// Opening a connection on behalf of this caller failed.
    #[error("could not open a connection: {0}")]
    Connect(#[source] E),
    /// The pool was closed.
    #[error("pool is closed")]
    Closed,
}
