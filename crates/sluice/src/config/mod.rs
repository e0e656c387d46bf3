//! The configuration file (TOML): its shape, loading, and validation. Every option is
//! documented in docs/configuration.md; examples/sluice.toml is an annotated example.

pub mod duration;
pub mod mysql;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use validate::{validate, Problem, Validated};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    pub postgres: Option<PostgresConfig>,
    pub mysql: Option<mysql::MysqlConfig>,
    pub vault: Option<VaultConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "default_log_format")]
    pub format: String,
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

fn default_log_format() -> String {
    "text".into()
}
fn default_log_level() -> String {
    "info".into()
}

/// Threads serving clients.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads, each with its own listener and share of every pool; 0 means one
    /// per available core.
    #[serde(default)]
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    #[serde(default = "default_admin_listen")]
    pub listen: String,
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

fn default_admin_listen() -> String {
    "127.0.0.1:9127".into()
}
fn default_shutdown_grace() -> String {
    "30s".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    #[serde(default = "default_pg_listen")]
    pub listen: String,
    #[serde(default = "default_max_client_conn")]
    pub max_client_conn: usize,
    #[serde(default = "default_auth_timeout")]
    pub auth_timeout: String,
    pub users_file: String,
    pub hba_file: Option<String>,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterConfig>,
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseConfig>,
}

fn default_pg_listen() -> String {
    "0.0.0.0:6432".into()
}
fn default_max_client_conn() -> usize {
    10_000
}
fn default_auth_timeout() -> String {
    "15s".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub hosts: Vec<String>,
    #[serde(default = "default_server_tls")]
    pub tls_mode: String,
    pub tls_ca_file: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
}

fn default_server_tls() -> String {
    "prefer".into()
}
fn default_connect_timeout() -> String {
    "5s".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub cluster: String,
    pub server_database: Option<String>,
    #[serde(default = "default_pool_mode")]
    pub pool_mode: String,
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    #[serde(default)]
    pub min_idle: usize,
    pub max_client_conn: Option<usize>,
    #[serde(default = "default_checkout_timeout")]
    pub checkout_timeout: String,
    #[serde(default = "default_server_lifetime")]
    pub server_lifetime: String,
    #[serde(default = "default_lifetime_jitter")]
    pub server_lifetime_jitter: String,
    #[serde(default = "default_server_idle_timeout")]
    pub server_idle_timeout: String,
    #[serde(default = "default_idle_in_tx")]
    pub idle_in_transaction_timeout: String,
    #[serde(default = "default_statement_cache")]
    pub prepared_statement_cache: usize,
    pub credentials: CredentialsConfig,
}

fn default_pool_mode() -> String {
    "transaction".into()
}
fn default_pool_size() -> usize {
    20
}
fn default_checkout_timeout() -> String {
    "30s".into()
}
fn default_server_lifetime() -> String {
    "1h".into()
}
fn default_lifetime_jitter() -> String {
    "5m".into()
}
fn default_server_idle_timeout() -> String {
    "10m".into()
}
fn default_idle_in_tx() -> String {
    "0".into()
}
fn default_statement_cache() -> usize {
    500
}

/// Where a route's server credentials come from: a username and password file, or a
/// Vault static or dynamic role (with an optional secrets-engine mount).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    pub username: Option<String>,
    pub password_file: Option<String>,
    pub vault_static_role: Option<String>,
    pub vault_dynamic_role: Option<String>,
    pub mount: Option<String>,
}

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

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| LoadError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// Expands `${VAR}` in a path option (paths of secrets can come from the environment)
/// and resolves it against the config file's directory.
pub fn resolve_path(value: &str, base: &Path) -> Result<PathBuf, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated ${{ in \"{value}\""))?;
        let var = &after[..end];
        let v = std::env::var(var)
            .map_err(|_| format!("environment variable {var} (used in \"{value}\") is not set"))?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let p = PathBuf::from(out);
    Ok(if p.is_relative() { base.join(p) } else { p })
}
