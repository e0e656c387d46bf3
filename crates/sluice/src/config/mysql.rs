//! The `[mysql]` section: listeners, client authentication, clusters of members, and
//! the databases (routes) clients select, each with its pool and credentials.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use mysql_proxy::auth::rsa_exchange::RsaKey;
use mysql_proxy::route::PoolMode;
use serde::Deserialize;

use pool_core::hba::MysqlAuthMethod;

use super::client_auth::{self, ClientAuth, ClientAuthFields};
use super::cluster::{self, ClusterFields, ClusterSettings};
use super::collector::Collector;
use super::database::{self, database_config, DatabaseSettings, Pooling};
use super::template::{self, Declared};
use super::vault::VaultConfig;

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
    #[serde(default = "default_max_handshakes")]
    pub max_handshakes: usize,
    #[serde(default = "default_max_handshakes_per_address")]
    pub max_handshakes_per_address: usize,
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
    /// Options every database takes unless it sets its own.
    #[serde(default)]
    pub defaults: MysqlDefaults,
    #[serde(default)]
    pub databases: BTreeMap<String, MysqlDatabaseConfig>,
}

fn default_listen_rw() -> String {
    "0.0.0.0:6446".into()
}
fn default_listen_ro() -> String {
    "0.0.0.0:6447".into()
}
fn default_max_handshakes() -> usize {
    pool_core::frontend::DEFAULT_MAX_HANDSHAKES
}
fn default_max_handshakes_per_address() -> usize {
    pool_core::frontend::DEFAULT_MAX_HANDSHAKES_PER_ADDRESS
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
    #[serde(default = "super::cluster::default_check_interval")]
    pub check_interval: String,
    #[serde(default = "super::cluster::default_failover_timeout")]
    pub failover_timeout: String,
    #[serde(default)]
    pub allow_plaintext_password: bool,
    /// The connections each member accepts from sluice (its `max_connections` less
    /// what is reserved or used by others), for `sluice check`.
    pub server_max_connections: Option<usize>,
}

fn default_tls_mode() -> String {
    "prefer".into()
}
fn default_connect_timeout() -> String {
    "5s".into()
}

database_config! {
    /// A `[mysql.databases.NAME]` block.
    pub struct MysqlDatabaseConfig;
    /// `[mysql.defaults]`: what every MySQL database takes unless it sets its own
    /// value.
    pub struct MysqlDefaults;
    own {}
    inherited {
        pub idle_in_transaction_timeout: Option<String>,
        /// Let LOAD DATA LOCAL INFILE through (off by default, as in MySQL 8).
        pub local_infile: Option<bool>,
        /// Prepared statements one client may hold open (MySQL's
        /// `max_prepared_stmt_count` default).
        pub max_prepared_statements: Option<usize>,
    }
}

/// The validated `[mysql]` section.
#[derive(Debug)]
pub struct MysqlSettings {
    pub listen_rw: SocketAddr,
    pub listen_ro: Option<SocketAddr>,
    pub max_client_conn: usize,
    /// Connections still authenticating, over all and per source address.
    pub max_handshakes: usize,
    pub max_handshakes_per_address: usize,
    pub auth_timeout: Duration,
    pub max_packet: usize,
    pub client_write_timeout: Duration,
    pub client: ClientAuth<MysqlAuthMethod>,
    /// The key for caching_sha2_password logins without TLS, read from
    /// `rsa_private_key_file`.
    pub rsa_key: Option<LoadedRsaKey>,
    pub clusters: BTreeMap<String, ClusterSettings>,
    pub databases: BTreeMap<String, MysqlDbSettings>,
}

/// An RSA key read from the configured file (its contents are not printed).
pub struct LoadedRsaKey(pub RsaKey);

impl std::fmt::Debug for LoadedRsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaKey(..)")
    }
}

pub type MysqlDbSettings = DatabaseSettings<MysqlRouteSettings>;

/// What a MySQL route has besides the shared database block.
#[derive(Debug, Clone, PartialEq)]
pub struct MysqlRouteSettings {
    pub mode: PoolMode,
    pub max_clients: Option<usize>,
    pub statement_cache: usize,
    pub local_infile: bool,
    pub idle_in_transaction_timeout: Option<Duration>,
    pub max_prepared_statements: usize,
}

pub(super) fn validate(
    c: &mut Collector<'_>,
    m: &MysqlConfig,
    vault: Option<&VaultConfig>,
) -> MysqlSettings {
    let listen_rw = c.addr("mysql.listen_rw", &m.listen_rw);
    let listen_ro = (!m.listen_ro.is_empty()).then(|| c.addr("mysql.listen_ro", &m.listen_ro));
    if m.max_client_conn == 0 {
        c.add("mysql.max_client_conn", "must be at least 1");
    }
    if m.max_handshakes == 0 {
        c.add("mysql.max_handshakes", "must be at least 1");
    }
    if m.max_handshakes_per_address == 0 {
        c.add("mysql.max_handshakes_per_address", "must be at least 1");
    }
    if m.max_packet_size < 1024 {
        c.add("mysql.max_packet_size", "must be at least 1024 bytes");
    }
    let auth_timeout = c.duration("mysql.auth_timeout", &m.auth_timeout);
    let client_write_timeout =
        c.positive_duration("mysql.client_write_timeout", &m.client_write_timeout);
    let mut client = client(c, m);
    let declared = template::declare(c, "mysql", &m.databases);
    client_auth::bind_databases(
        c,
        "mysql",
        &mut client,
        declared.iter().map(|d| (&d.name, d.users.as_ref())),
    );
    let rsa_key = m
        .rsa_private_key_file
        .as_deref()
        .and_then(|f| rsa_key(c, f));
    let clusters = m
        .clusters
        .iter()
        .map(|(name, cl)| (name.clone(), mysql_cluster(c, name, cl)))
        .collect();
    if declared.is_empty() {
        c.add(
            "mysql.databases",
            "no database is configured: clients could not connect to anything",
        );
    }
    let databases = declared
        .iter()
        .map(|d| (d.name.clone(), database(c, d, m, vault)))
        .collect();
    MysqlSettings {
        listen_rw,
        listen_ro,
        max_client_conn: m.max_client_conn,
        max_handshakes: m.max_handshakes,
        max_handshakes_per_address: m.max_handshakes_per_address,
        auth_timeout,
        max_packet: m.max_packet_size,
        client_write_timeout,
        client,
        rsa_key,
        clusters,
        databases,
    }
}

/// Users, access rules and TLS; the certificate and key go together.
fn client(c: &mut Collector<'_>, m: &MysqlConfig) -> ClientAuth<MysqlAuthMethod> {
    let auth = client_auth::validate(
        c,
        "mysql",
        ClientAuthFields {
            users_file: &m.users_file,
            hba_file: m.hba_file.as_deref(),
            tls_cert_file: m.tls_cert_file.as_deref(),
            tls_key_file: m.tls_key_file.as_deref(),
        },
    );
    if m.tls_cert_file.is_some() != m.tls_key_file.is_some() {
        c.add(
            "mysql.tls_cert_file",
            "tls_cert_file and tls_key_file go together",
        );
    }
    auth
}

fn rsa_key(c: &mut Collector<'_>, file: &str) -> Option<LoadedRsaKey> {
    let location = "mysql.rsa_private_key_file";
    let (_, pem) = c.read(location, file);
    let key = RsaKey::from_pem(&pem?).map_err(|e| c.add(location, e.to_string()));
    key.ok().map(LoadedRsaKey)
}

fn mysql_cluster(c: &mut Collector<'_>, name: &str, cl: &MysqlClusterConfig) -> ClusterSettings {
    let loc = format!("mysql.clusters.{name}");
    let fields = ClusterFields {
        hosts: &cl.hosts,
        tls_mode: &cl.tls_mode,
        tls_ca_file: cl.tls_ca_file.as_deref(),
        connect_timeout: &cl.connect_timeout,
        check_interval: &cl.check_interval,
        failover_timeout: &cl.failover_timeout,
        allow_plaintext_password: cl.allow_plaintext_password,
        server_max_connections: cl.server_max_connections,
    };
    cluster::validate(c, &loc, fields)
}

fn database(
    c: &mut Collector<'_>,
    d: &Declared<'_, MysqlDatabaseConfig>,
    m: &MysqlConfig,
    vault: Option<&VaultConfig>,
) -> MysqlDbSettings {
    let db = d.block.inherit(&m.defaults);
    let mut fields = db.shared();
    fields.credentials = &d.credentials;
    let cluster_known = db
        .cluster
        .as_ref()
        .is_some_and(|n| m.clusters.contains_key(n));
    database::validate(
        c,
        "mysql",
        &d.loc,
        fields,
        cluster_known,
        vault,
        |c, loc, pooling| {
            let idle_tx = c.duration(
                &format!("{loc}.idle_in_transaction_timeout"),
                db.idle_in_transaction_timeout
                    .as_deref()
                    .unwrap_or(database::DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT),
            );
            let max_prepared_statements = db
                .max_prepared_statements
                .unwrap_or(mysql_proxy::route::DEFAULT_MAX_PREPARED_STATEMENTS);
            if max_prepared_statements == 0 {
                c.add(
                    format!("{loc}.max_prepared_statements"),
                    "must be at least 1",
                );
            }
            MysqlRouteSettings {
                mode: match pooling {
                    Pooling::Session => PoolMode::Session,
                    Pooling::Transaction => PoolMode::Transaction,
                },
                max_clients: db.max_client_conn,
                statement_cache: db
                    .prepared_statement_cache
                    .unwrap_or(database::DEFAULT_STATEMENT_CACHE),
                local_infile: db.local_infile.unwrap_or(false),
                idle_in_transaction_timeout: (!idle_tx.is_zero()).then_some(idle_tx),
                max_prepared_statements,
            }
        },
    )
}

#[cfg(test)]
#[path = "mysql_tests.rs"]
mod tests;
