//! The `[vault]` section: one Vault or OpenBao server for every route that names a role,
//! and how sluice logs in to it.

use pool_core::credentials::vault::{TokenFrom, VaultAuth, VaultSettings};
use serde::Deserialize;

use super::collector::Collector;

/// The `[vault]` section: one Vault or OpenBao server for every route that names a role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    pub address: String,
    pub namespace: Option<String>,
    pub ca_file: Option<String>,
    /// Default mount of the database secrets engine.
    #[serde(default = "default_vault_mount")]
    pub mount: String,
    #[serde(default = "default_vault_timeout")]
    pub request_timeout: String,
    pub auth: VaultAuthConfig,
}

fn default_vault_mount() -> String {
    "database".into()
}
fn default_vault_timeout() -> String {
    "10s".into()
}

/// How sluice logs in to Vault: `token`, `approle` or `kubernetes`, with that method's
/// options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultAuthConfig {
    pub method: String,
    pub token_file: Option<String>,
    pub token_env: Option<String>,
    pub role_id: Option<String>,
    pub secret_id_file: Option<String>,
    pub role: Option<String>,
    pub jwt_file: Option<String>,
    pub mount: Option<String>,
}

/// Checks the `[vault]` section.
pub(super) fn validate(c: &mut Collector<'_>, v: &VaultConfig) -> VaultSettings {
    if !(v.address.starts_with("http://") || v.address.starts_with("https://")) {
        c.add(
            "vault.address",
            format!("\"{}\" is not an http:// or https:// address", v.address),
        );
    }
    let request_timeout = c.positive_duration("vault.request_timeout", &v.request_timeout);
    let ca_file = v.ca_file.as_ref().map(|f| c.path("vault.ca_file", f, true));
    VaultSettings {
        address: v.address.trim_end_matches('/').to_owned(),
        namespace: v.namespace.clone(),
        ca_file,
        request_timeout,
        auth: auth(c, &v.auth),
    }
}

/// The `[vault.auth]` block.
fn auth(c: &mut Collector<'_>, a: &VaultAuthConfig) -> VaultAuth {
    let require = |c: &mut Collector<'_>, key: &str, value: &Option<String>| -> String {
        value.clone().unwrap_or_else(|| {
            c.add(
                format!("vault.auth.{key}"),
                format!("is required with method \"{}\"", a.method),
            );
            String::new()
        })
    };
    match a.method.as_str() {
        "token" => VaultAuth::Token(match (&a.token_file, &a.token_env) {
            (Some(_), Some(_)) => {
                c.add("vault.auth", "set token_file or token_env, not both");
                TokenFrom::Env(String::new())
            }
            (Some(f), None) => TokenFrom::File(c.path("vault.auth.token_file", f, true)),
            (None, env) => TokenFrom::Env(env.clone().unwrap_or_else(|| "VAULT_TOKEN".into())),
        }),
        "approle" => {
            let role_id = require(c, "role_id", &a.role_id);
            let secret_id_file = require(c, "secret_id_file", &a.secret_id_file);
            VaultAuth::AppRole {
                mount: a.mount.clone().unwrap_or_else(|| "approle".into()),
                role_id,
                secret_id_file: c.path("vault.auth.secret_id_file", &secret_id_file, true),
            }
        }
        "kubernetes" => {
            let role = require(c, "role", &a.role);
            let jwt_file = a
                .jwt_file
                .clone()
                .unwrap_or_else(|| "/var/run/secrets/kubernetes.io/serviceaccount/token".into());
            VaultAuth::Kubernetes {
                mount: a.mount.clone().unwrap_or_else(|| "kubernetes".into()),
                role,
                // Checked at login, not here: the kubelet mounts it in the pod.
                jwt_file: c.path("vault.auth.jwt_file", &jwt_file, false),
            }
        }
        other => {
            c.add(
                "vault.auth.method",
                format!("\"{other}\" is not one of token, approle, kubernetes"),
            );
            VaultAuth::Token(TokenFrom::Env(String::new()))
        }
    }
}
