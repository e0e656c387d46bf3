//! A failed Vault operation, with messages safe to log.

/// A failed Vault operation. Messages carry Vault's status and error text, never a
/// token or a credential.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultError {
    #[error("cannot reach Vault at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("Vault refused {what} (HTTP {status}): {message}")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },
    #[error("cannot log in to Vault ({method}): {reason}")]
    Login {
        method: &'static str,
        reason: String,
    },
    #[error("unexpected answer from Vault to {what}: {reason}")]
    Malformed { what: String, reason: String },
    #[error("Vault client set-up failed: {0}")]
    Setup(String),
}

impl VaultError {
    /// Whether the token was refused (expired or revoked): logging in again may help.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, VaultError::Refused { status: 403, .. })
    }
}
