//! Where Vault is and how sluice logs in to it: the settings the binary builds from
//! its configuration file.

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
