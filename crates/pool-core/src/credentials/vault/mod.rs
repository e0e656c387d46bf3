//! Credentials from HashiCorp Vault or OpenBao's database secrets engine: static roles
//! (one database user whose password Vault rotates) and dynamic roles (a generated user
//! per lease). sluice logs in to Vault itself, keeps its token alive, and refreshes
//! credentials ahead of rotations and lease ends, so apps never hold a database password.

mod client;
mod dynamic_role;
mod endpoints;
mod metrics;
mod retry;
mod static_role;
mod task;

pub use client::{Vault, VaultStatus};
pub use dynamic_role::DynamicRoleSource;
pub use static_role::StaticRoleSource;

use std::path::PathBuf;
use std::time::Duration;

/// Where Vault is and how sluice logs in to it.
#[derive(Debug, Clone, PartialEq)]
pub struct VaultSettings {
    /// Base address, e.g. `https://vault.vault.svc:8200`.
    pub address: String,
    /// Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// CA certificate (PEM) to verify Vault's TLS certificate with.
    pub ca_file: Option<PathBuf>,
    /// Bound on each request, so an unreachable Vault never stalls a caller for long.
    pub request_timeout: Duration,
    pub auth: VaultAuth,
}

/// How sluice obtains its own Vault token.
#[derive(Debug, Clone, PartialEq)]
pub enum VaultAuth {
    /// A token given to sluice: read from a file (re-read at each login, so a renewed
    /// file is picked up) or from an environment variable.
    Token(TokenFrom),
    /// `POST auth/<mount>/login` with a role ID and a secret ID (read from a file).
    AppRole {
        mount: String,
        role_id: String,
        secret_id_file: PathBuf,
    },
    /// `POST auth/<mount>/login` with the pod's service-account JWT, re-read at each
    /// login because the kubelet rotates it.
    Kubernetes {
        mount: String,
        role: String,
        jwt_file: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenFrom {
    File(PathBuf),
    Env(String),
}

impl VaultAuth {
    pub fn method_name(&self) -> &'static str {
        match self {
            VaultAuth::Token(_) => "token",
            VaultAuth::AppRole { .. } => "approle",
            VaultAuth::Kubernetes { .. } => "kubernetes",
        }
    }
}

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
