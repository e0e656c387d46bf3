//! Why a PostgreSQL server connection could not be opened or used.

use pool_core::net::connect::LinkError;

use crate::protocol::error_fields::ErrorFields;

/// Why a server connection could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TCP, TLS or the set-up deadline (pool-core's transport, as on the MySQL side).
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("I/O error on server connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("server refused the credentials ({}): {}", .0.code, .0.message)]
    AuthFailed(ErrorFields),
    #[error("server error ({}): {}", .0.code, .0.message)]
    Rejected(ErrorFields),
    #[error("server asked for unsupported authentication (code {0})")]
    UnsupportedAuth(i32),
    #[error("the server asks for a {0} password, and the connection has no TLS (tls_mode \"prefer\" found none): sluice does not send it; enable TLS on the server, use scram-sha-256, or set allow_plaintext_password = true on the cluster")]
    ExposedPassword(&'static str),
    #[error("SCRAM with the server failed: {0}")]
    Scram(String),
    #[error("protocol error from server: {0}")]
    Protocol(String),
    #[error("{0} is not a primary (pg_is_in_recovery() is true)")]
    NotPrimary(String),
    #[error("no reachable primary among {0}")]
    NoPrimary(String),
    #[error(transparent)]
    Credentials(#[from] pool_core::credentials::CredentialError),
}

impl ServerError {
    /// Whether the error says the cluster has no usable primary right now (stopped,
    /// unreachable, starting up or shutting down, still in recovery), which a
    /// switchover cures, unlike refused credentials or a missing database.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ServerError::Link(_)
            | ServerError::Io(_)
            | ServerError::NotPrimary(_)
            | ServerError::NoPrimary(_) => true,
            // cannot_connect_now, admin_shutdown, crash_shutdown, connection failures.
            ServerError::Rejected(f) => {
                matches!(f.code.as_str(), "57P01" | "57P02" | "57P03") || f.code.starts_with("08")
            }
            _ => false,
        }
    }

    /// SQLSTATEs PostgreSQL uses for a refused login: invalid password or authorization.
    pub(crate) fn from_startup_error(fields: ErrorFields) -> Self {
        if fields.code == "28P01" || fields.code == "28000" {
            ServerError::AuthFailed(fields)
        } else {
            ServerError::Rejected(fields)
        }
    }
}
