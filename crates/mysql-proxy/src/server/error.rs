//! Why a MySQL server connection could not be opened or used.

use pool_core::net::connect::LinkError;

use crate::protocol::handshake::Malformed;
use crate::protocol::ok_err::ErrPacket;
use crate::protocol::response::Broken;

/// Why a server connection could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TCP, TLS or the set-up deadline (pool-core's transport, as on the PostgreSQL side).
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("I/O error on server connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("server refused the credentials: {0}")]
    AuthFailed(ErrPacket),
    #[error("server error: {0}")]
    Rejected(ErrPacket),
    #[error("server asked for unsupported authentication: {0}")]
    UnsupportedAuth(String),
    #[error("protocol error from server: {0}")]
    Protocol(&'static str),
    #[error("no {role} member among {members}")]
    NoMember { role: &'static str, members: String },
    #[error(transparent)]
    Credentials(#[from] pool_core::credentials::CredentialError),
}

impl ServerError {
    /// Whether the member is gone or shutting down (a switchover cures it), unlike
    /// refused credentials or an unknown database.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ServerError::Link(_) | ServerError::Io(_) | ServerError::NoMember { .. } => true,
            // ER_SERVER_SHUTDOWN, ER_CON_COUNT_ERROR is not one: a full server stays full.
            ServerError::Rejected(e) => e.code == 1053,
            _ => false,
        }
    }
}

impl From<Malformed> for ServerError {
    fn from(m: Malformed) -> Self {
        ServerError::Protocol(m.0)
    }
}

impl From<Broken> for ServerError {
    fn from(b: Broken) -> Self {
        ServerError::Protocol(b.0)
    }
}

impl From<crate::io::ReadError> for ServerError {
    fn from(e: crate::io::ReadError) -> Self {
        match e {
            crate::io::ReadError::Io(e) => ServerError::Io(e),
            crate::io::ReadError::Closed => ServerError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            )),
            crate::io::ReadError::TooLarge(_) => ServerError::Protocol("oversized packet"),
        }
    }
}

impl ServerError {
    /// Error codes MySQL uses for refused logins (1045 access denied, 1698 access
    /// denied without a password, 1862 expired password).
    pub(crate) fn from_login_error(err: ErrPacket) -> Self {
        match err.code {
            1045 | 1698 | 1862 => ServerError::AuthFailed(err),
            _ => ServerError::Rejected(err),
        }
    }
}
