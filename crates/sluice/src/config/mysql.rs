//! The `[mysql]` section: listeners, client authentication, clusters of members, and
//! the databases (routes) clients select, each with its pool and credentials.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql_proxy::route::PoolMode;
use pool_core::net::tls::ServerTlsMode;
use pool_core::net::Endpoint;
use pool_core::pool::PoolConfig;
use serde::Deserialize;

use super::validate::{
    credentials, parse_endpoint, pool_options, Collector, CredentialSettings, PoolOptions,
};
use super::{CredentialsConfig, VaultConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    #[serde(default = "default_listen_rw")]
    pub listen_rw: String,
    /// Empty string: no read-only listener.
    #[serde(default = "default_listen_ro")]
    pub listen_ro: String,
    #[serde(default = "default_max_client_conn")]
    pub max_client_conn: usize,
    #[serde(default = "default_auth_timeout")]
    pub auth_timeout: String,
    /// Largest command packet a client may send, in bytes.
    #[serde(default = "default_max_packet")]
    pub max_packet_size: usize,
    /// How long a client may leave a result unread before its session ends.
    #[serde(default = "default_client_write_timeout")]
    pub client_write_timeout: String,
    pub users_file: String,
    pub hba_file: Option<String>,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    /// PEM RSA private key for caching_sha2_password logins without TLS; generated at
    /// first use when absent.
    pub rsa_private_key_file: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, MysqlClusterConfig>,
    #[serde(default)]
    pub databases: BTreeMap<String, MysqlDatabaseConfig>,
}

fn default_listen_rw() -> String {
    "0.0.0.0:6446".into()
}
fn default_listen_ro() -> String {
    "0.0.0.0:6447".into()
}
fn default_max_client_conn() -> usize {
    10_000
}
fn default_auth_timeout() -> String {
    "15s".into()
}
fn default_client_write_timeout() -> String {
    "60s".into()
}
fn default_max_packet() -> usize {
    64 << 20
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlClusterConfig {
    pub hosts: Vec<String>,
    #[serde(default = "default_tls_mode")]
    pub tls_mode: String,
    pub tls_ca_file: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
    /// How often each member is asked its role.
    #[serde(default = "default_check_interval")]
    pub check_interval: String,
}

fn default_tls_mode() -> String {
    "prefer".into()
}
fn default_connect_timeout() -> String {
    "5s".into()
}
fn default_check_interval() -> String {
    "1s".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlDatabaseConfig {
    pub cluster: String,
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
    #[serde(default = "default_statement_cache")]
    pub prepared_statement_cache: usize,
    /// Let LOAD DATA LOCAL INFILE through (off by default, as in MySQL 8).
    #[serde(default)]
    pub local_infile: bool,
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
fn default_statement_cache() -> usize {
    500
}

#[derive(Debug, Clone)]
pub struct MysqlSettings {
    pub listen_rw: SocketAddr,
    pub listen_ro: Option<SocketAddr>,
    pub max_client_conn: usize,
    pub auth_timeout: Duration,
    pub max_packet: usize,
    pub client_write_timeout: Duration,
    pub users_file: PathBuf,
    pub hba_file: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub rsa_private_key_file: Option<PathBuf>,
    pub clusters: BTreeMap<String, MysqlClusterSettings>,
    pub databases: BTreeMap<String, MysqlDbSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MysqlClusterSettings {
    pub endpoints: Vec<Endpoint>,
    pub tls_mode: ServerTlsMode,
    pub tls_ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub check_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct MysqlDbSettings {
    pub cluster: String,
    pub mode: PoolMode,
    pub pool: PoolConfig,
    pub max_clients: Option<usize>,
    pub statement_cache: usize,
    pub local_infile: bool,
    pub credentials: CredentialSettings,
}

pub(super) fn validate(
    c: &mut Collector,
    m: &MysqlConfig,
    vault: Option<&VaultConfig>,
    base: &Path,
) -> MysqlSettings {
    let listen_rw = c.addr("mysql.listen_rw", &m.listen_rw);
    let listen_ro = (!m.listen_ro.is_empty()).then(|| c.addr("mysql.listen_ro", &m.listen_ro));
    if m.max_client_conn == 0 {
        c.add("mysql.max_client_conn", "must be at least 1");
    }
    if m.max_packet_size < 1024 {
        c.add("mysql.max_packet_size", "must be at least 1024 bytes");
    }
    let auth_timeout = c.duration("mysql.auth_timeout", &m.auth_timeout);
    let client_write_timeout = c.duration("mysql.client_write_timeout", &m.client_write_timeout);
    if client_write_timeout.is_zero() {
        c.add("mysql.client_write_timeout", "must be more than 0");
    }
    let users_file = c.path("mysql.users_file", &m.users_file, base, true);
    if users_file.exists() {
        if let Err(e) = pool_core::users::Users::load(&users_file) {
            c.add("mysql.users_file", e.to_string());
        }
    }
    let hba_file = m.hba_file.as_ref().map(|h| {
        let p = c.path("mysql.hba_file", h, base, true);
        if let Ok(text) = std::fs::read_to_string(&p) {
            if let Err(e) = pool_core::hba::MysqlHbaRules::parse(&text) {
                c.add("mysql.hba_file", e.to_string());
            }
        }
        p
    });
    let tls = match (&m.tls_cert_file, &m.tls_key_file) {
        (Some(cert), Some(key)) => {
            let cert = c.path("mysql.tls_cert_file", cert, base, true);
            let key = c.path("mysql.tls_key_file", key, base, true);
            if cert.exists() && key.exists() {
                if let Err(e) = pool_core::net::tls::server_config(&cert, &key) {
                    c.add("mysql.tls_cert_file", e.to_string());
                }
            }
            Some((cert, key))
        }
        (None, None) => None,
        _ => {
            c.add(
                "mysql.tls_cert_file",
                "tls_cert_file and tls_key_file go together",
            );
            None
        }
    };
    let rsa_private_key_file = m.rsa_private_key_file.as_ref().map(|f| {
        let p = c.path("mysql.rsa_private_key_file", f, base, true);
        if let Ok(pem) = std::fs::read_to_string(&p) {
            if let Err(e) = mysql_proxy::auth::rsa_exchange::RsaKey::from_pem(&pem) {
                c.add("mysql.rsa_private_key_file", e.to_string());
            }
        }
        p
    });
    let mut clusters = BTreeMap::new();
    for (name, cl) in &m.clusters {
        let loc = format!("mysql.clusters.{name}");
        if cl.hosts.is_empty() {
            c.add(format!("{loc}.hosts"), "needs at least one host:port");
        }
        let endpoints = cl
            .hosts
            .iter()
            .filter_map(|h| match parse_endpoint(h) {
                Ok(e) => Some(e),
                Err(msg) => {
                    c.add(format!("{loc}.hosts"), msg);
                    None
                }
            })
            .collect();
        let tls_mode = ServerTlsMode::parse(&cl.tls_mode).unwrap_or_else(|| {
            c.add(
                format!("{loc}.tls_mode"),
                format!(
                    "\"{}\" is not one of disable, prefer, require, verify-full",
                    cl.tls_mode
                ),
            );
            ServerTlsMode::Prefer
        });
        let tls_ca_file = cl
            .tls_ca_file
            .as_ref()
            .map(|f| c.path(&format!("{loc}.tls_ca_file"), f, base, true));
        if tls_mode == ServerTlsMode::VerifyFull && tls_ca_file.is_none() {
            c.add(format!("{loc}.tls_ca_file"), "verify-full needs a CA file");
        }
        let connect_timeout = c.duration(&format!("{loc}.connect_timeout"), &cl.connect_timeout);
        if connect_timeout.is_zero() {
            c.add(format!("{loc}.connect_timeout"), "must be more than 0");
        }
        let check_interval = c.duration(&format!("{loc}.check_interval"), &cl.check_interval);
        if check_interval.is_zero() {
            c.add(format!("{loc}.check_interval"), "must be more than 0");
        }
        clusters.insert(
            name.clone(),
            MysqlClusterSettings {
                endpoints,
                tls_mode,
                tls_ca_file,
                connect_timeout,
                check_interval,
            },
        );
    }
    if m.databases.is_empty() {
        c.add(
            "mysql.databases",
            "no database is configured: clients could not connect to anything",
        );
    }
    let mut databases = BTreeMap::new();
    for (name, db) in &m.databases {
        let loc = format!("mysql.databases.{name}");
        if !m.clusters.contains_key(&db.cluster) {
            c.add(
                format!("{loc}.cluster"),
                format!("no cluster \"{}\" under [mysql.clusters]", db.cluster),
            );
        }
        let (session, pool) = pool_options(
            c,
            &loc,
            PoolOptions {
                pool_mode: &db.pool_mode,
                pool_size: db.pool_size,
                min_idle: db.min_idle,
                max_client_conn: db.max_client_conn,
                prepared_statement_cache: db.prepared_statement_cache,
                checkout_timeout: &db.checkout_timeout,
                server_lifetime: &db.server_lifetime,
                server_lifetime_jitter: &db.server_lifetime_jitter,
                server_idle_timeout: &db.server_idle_timeout,
            },
        );
        let mode = if session {
            PoolMode::Session
        } else {
            PoolMode::Transaction
        };
        let credentials = credentials(c, &loc, &db.credentials, vault, base);
        databases.insert(
            name.clone(),
            MysqlDbSettings {
                cluster: db.cluster.clone(),
                mode,
                pool,
                max_clients: db.max_client_conn,
                statement_cache: db.prepared_statement_cache,
                local_infile: db.local_infile,
                credentials,
            },
        );
    }
    MysqlSettings {
        listen_rw,
        listen_ro,
        max_client_conn: m.max_client_conn,
        auth_timeout,
        max_packet: m.max_packet_size,
        client_write_timeout,
        users_file,
        hba_file,
        tls,
        rsa_private_key_file,
        clusters,
        databases,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{validate, Config};

    #[test]
    fn mysql_section_problems_carry_their_location() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("users.toml"),
            "[users.app]\npassword = \"x\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("rsa.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let config = Config::parse(
            r#"
            [mysql]
            listen_rw = "nowhere"
            users_file = "users.toml"
            rsa_private_key_file = "rsa.pem"
            [mysql.clusters.c]
            hosts = ["db:3306", "bad"]
            tls_mode = "sometimes"
            [mysql.databases.shop]
            cluster = "missing"
            pool_size = 0
            credentials = { username = "app" }
            "#,
        )
        .unwrap();
        let problems = validate(&config, dir.path()).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        for expected in [
            "mysql.listen_rw",
            "mysql.rsa_private_key_file",
            "mysql.clusters.c.hosts",
            "mysql.clusters.c.tls_mode",
            "mysql.databases.shop.cluster",
            "mysql.databases.shop.pool_size",
            "mysql.databases.shop.credentials",
        ] {
            assert!(
                text.iter().any(|t| t.starts_with(expected)),
                "{expected} missing in {text:?}"
            );
        }
    }

    #[test]
    fn a_mysql_only_config_is_valid_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("users.toml"),
            "[users.app]\npassword = \"x\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
        let config = Config::parse(
            r#"
            [mysql]
            users_file = "users.toml"
            [mysql.clusters.innodb]
            hosts = ["mysql-0:3306", "mysql-1:3306"]
            [mysql.databases.shop]
            cluster = "innodb"
            credentials = { username = "app", password_file = "pw" }
            "#,
        )
        .unwrap();
        let v = validate(&config, dir.path()).unwrap();
        let m = v.mysql.unwrap();
        assert_eq!(m.listen_rw.port(), 6446);
        assert_eq!(m.listen_ro.map(|a| a.port()), Some(6447));
        assert_eq!(m.clusters["innodb"].endpoints.len(), 2);
        assert_eq!(m.databases["shop"].pool.max_size, 20);
        assert!(!m.databases["shop"].local_infile);
        assert!(v.postgres.is_none());
    }
}
