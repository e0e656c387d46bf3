//! The pooling mode of a route, the same word for both protocols.

use std::fmt;

/// When a server connection goes back to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// At the end of the client's session.
    Session,
    /// At the end of each transaction (for MySQL: at a transaction boundary where the
    /// session holds no state another client could see).
    Transaction,
}

impl PoolMode {
    /// The name used in configuration files and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

impl fmt::Display for PoolMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
