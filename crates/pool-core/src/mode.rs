//! The pooling mode of a route, the same word for both protocols.

/// When a server connection goes back to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// At the end of the client's session.
    Session,
    /// At the end of each transaction (for MySQL: at a transaction boundary where the
    /// session holds no state another client could see).
    Transaction,
}
