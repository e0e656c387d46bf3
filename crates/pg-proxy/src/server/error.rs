use crate::protocol::error_fields::ErrorFields;

/// Why a server connection could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out connecting to {0}")]
    ConnectTimeout(String),
    #[error("I/O error on server connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS to {endpoint}: {reason}")]
    Tls { endpoint: String, reason: String },
    #[error("server {0} does not accept TLS, which the route requires")]
    TlsRefused(String),
    #[error("server refused the credentials ({}): {}", .0.code, .0.message)]
    AuthFailed(ErrorFields),
    #[error("server error ({}): {}", .0.code, .0.message)]
    Rejected(ErrorFields),
    #[error("server asked for unsupported authentication (code {0})")]
    UnsupportedAuth(i32),
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
    /// SQLSTATEs PostgreSQL uses for a refused login: invalid password or authorization.
    pub(crate) fn from_startup_error(fields: ErrorFields) -> Self {
        if fields.code == "28P01" || fields.code == "28000" {
            ServerError::AuthFailed(fields)
        } else {
            ServerError::Rejected(fields)
        }
    }
}
