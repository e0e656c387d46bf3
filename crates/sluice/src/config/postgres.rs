//! The `[postgres]` section: the listener, client authentication, clusters of servers,
//! and the databases (routes) clients select, each with its pool and credentials.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use pg_proxy::route::PoolMode;
use pg_proxy::server::OwnerRole;
use pg_proxy::sql::trusted::TrustedFunctions;
use serde::Deserialize;

use super::client_auth::{self, ClientAuth, ClientAuthFields};
use super::cluster::{self, ClusterFields, ClusterSettings};
use super::collector::Collector;
use super::database::{self, database_config, DatabaseSettings, Pooling};
use super::template::{self, Declared};
use super::vault::VaultConfig;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    #[serde(default = "default_pg_listen")]
    pub listen: String,
    #[serde(default = "default_max_client_conn")]
    pub max_client_conn: usize,
    #[serde(default = "default_max_handshakes")]
    pub max_handshakes: usize,
    #[serde(default = "default_max_handshakes_per_address")]
    pub max_handshakes_per_address: usize,
    #[serde(default = "default_auth_timeout")]
    pub auth_timeout: String,
    #[serde(default = "default_client_write_timeout")]
    pub client_write_timeout: String,
    pub users_file: String,
    pub hba_file: Option<String>,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterConfig>,
    /// Options every database takes unless it sets its own.
    #[serde(default)]
    pub defaults: PgDefaults,
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseConfig>,
}

fn default_pg_listen() -> String {
    "0.0.0.0:6432".into()
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
fn default_client_write_timeout() -> String {
    "60s".into()
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
    /// How often each member is asked whether it is in recovery.
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

fn default_server_tls() -> String {
    "prefer".into()
}
fn default_connect_timeout() -> String {
    "5s".into()
}

database_config! {
    /// A `[postgres.databases.NAME]` block.
    pub struct DatabaseConfig;
    /// `[postgres.defaults]`: what every PostgreSQL database takes unless it sets its
    /// own value.
    pub struct PgDefaults;
    own {
        pub server_database: Option<String>,
    }
    inherited {
        pub idle_in_transaction_timeout: Option<String>,
        pub trusted_functions: Option<Vec<String>>,
        pub max_prepared_statements: Option<usize>,
        /// The role the database's sessions act as (`SET ROLE` carried in the startup).
        pub owner_role: Option<String>,
    }
}

/// The validated `[postgres]` section.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub listen: SocketAddr,
    pub max_client_conn: usize,
    /// Connections still authenticating, over all and per source address.
    pub max_handshakes: usize,
    pub max_handshakes_per_address: usize,
    pub auth_timeout: Duration,
    /// A client that reads nothing of what sluice sends it for this long is cut off.
    pub client_write_timeout: Duration,
    pub client: ClientAuth,
    pub clusters: BTreeMap<String, ClusterSettings>,
    pub databases: BTreeMap<String, PgDbSettings>,
}

pub type PgDbSettings = DatabaseSettings<PgRouteSettings>;

/// What a PostgreSQL route has besides the shared database block.
#[derive(Debug, Clone, PartialEq)]
pub struct PgRouteSettings {
    pub server_database: String,
    pub mode: PoolMode,
    pub max_clients: Option<usize>,
    pub idle_in_transaction_timeout: Option<Duration>,
    pub statement_cache: usize,
    pub trusted_functions: TrustedFunctions,
    pub max_prepared_statements: usize,
    /// The role server connections act as instead of the login user.
    pub owner_role: Option<OwnerRole>,
}

pub(super) fn validate(
    c: &mut Collector<'_>,
    pg: &PostgresConfig,
    vault: Option<&VaultConfig>,
) -> PgSettings {
    let listen = c.addr("postgres.listen", &pg.listen);
    if pg.max_client_conn == 0 {
        c.add("postgres.max_client_conn", "must be at least 1");
    }
    if pg.max_handshakes == 0 {
        c.add("postgres.max_handshakes", "must be at least 1");
    }
    if pg.max_handshakes_per_address == 0 {
        c.add("postgres.max_handshakes_per_address", "must be at least 1");
    }
    let auth_timeout = c.duration("postgres.auth_timeout", &pg.auth_timeout);
    let client_write_timeout =
        c.positive_duration("postgres.client_write_timeout", &pg.client_write_timeout);
    let mut client = client(c, pg);
    let declared = template::declare(c, "postgres", &pg.databases);
    client_auth::bind_databases(
        c,
        "postgres",
        &mut client,
        declared.iter().map(|d| (&d.name, d.users.as_ref())),
    );
    let clusters = pg
        .clusters
        .iter()
        .map(|(name, cl)| {
            let loc = format!("postgres.clusters.{name}");
            (name.clone(), cluster::validate(c, &loc, cluster_fields(cl)))
        })
        .collect();
    if declared.is_empty() {
        c.add(
            "postgres.databases",
            "no database is configured: clients could not connect to anything",
        );
    }
    for d in &declared {
        if pg_proxy::console::is_console_database(&d.name) {
            c.add(
                format!("postgres.databases.{}", d.name),
                "this name reaches the admin console: name the route otherwise (server_database can keep the server's name)",
            );
        }
    }
    let databases = declared
        .iter()
        .map(|d| (d.name.clone(), database(c, d, pg, vault)))
        .collect();
    PgSettings {
        listen,
        max_client_conn: pg.max_client_conn,
        max_handshakes: pg.max_handshakes,
        max_handshakes_per_address: pg.max_handshakes_per_address,
        auth_timeout,
        client_write_timeout,
        client,
        clusters,
        databases,
    }
}

/// Users, access rules and TLS; a certificate without its key (or the reverse) is
/// reported at the option that is missing its partner.
fn client(c: &mut Collector<'_>, pg: &PostgresConfig) -> ClientAuth {
    let auth = client_auth::validate(
        c,
        "postgres",
        ClientAuthFields {
            users_file: &pg.users_file,
            hba_file: pg.hba_file.as_deref(),
            tls_cert_file: pg.tls_cert_file.as_deref(),
            tls_key_file: pg.tls_key_file.as_deref(),
        },
    );
    match (&pg.tls_cert_file, &pg.tls_key_file) {
        (Some(_), None) => c.add(
            "postgres.tls_key_file",
            "tls_cert_file is set but tls_key_file is not",
        ),
        (None, Some(_)) => c.add(
            "postgres.tls_cert_file",
            "tls_key_file is set but tls_cert_file is not",
        ),
        _ => {}
    }
    auth
}

fn cluster_fields(cl: &ClusterConfig) -> ClusterFields<'_> {
    ClusterFields {
        hosts: &cl.hosts,
        tls_mode: &cl.tls_mode,
        tls_ca_file: cl.tls_ca_file.as_deref(),
        connect_timeout: &cl.connect_timeout,
        check_interval: &cl.check_interval,
        failover_timeout: &cl.failover_timeout,
        allow_plaintext_password: cl.allow_plaintext_password,
        server_max_connections: cl.server_max_connections,
    }
}

fn database(
    c: &mut Collector<'_>,
    d: &Declared<'_, DatabaseConfig>,
    pg: &PostgresConfig,
    vault: Option<&VaultConfig>,
) -> PgDbSettings {
    let db = d.block.inherit(&pg.defaults);
    let mut fields = db.shared();
    fields.credentials = &d.credentials;
    let cluster_known = db
        .cluster
        .as_ref()
        .is_some_and(|n| pg.clusters.contains_key(n));
    database::validate(
        c,
        "postgres",
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
            let trusted_functions =
                TrustedFunctions::parse(db.trusted_functions.as_deref().unwrap_or_default())
                    .unwrap_or_else(|e| {
                        c.add(format!("{loc}.trusted_functions"), e);
                        TrustedFunctions::default()
                    });
            let max_prepared_statements = db
                .max_prepared_statements
                .unwrap_or(pg_proxy::route::DEFAULT_MAX_PREPARED_STATEMENTS);
            if max_prepared_statements == 0 {
                c.add(
                    format!("{loc}.max_prepared_statements"),
                    "must be at least 1",
                );
            }
            if d.templated && db.server_database.is_some() {
                c.add(
                    format!("{loc}.server_database"),
                    "not on the wildcard route: each database it serves has its own name on the server",
                );
            }
            PgRouteSettings {
                trusted_functions,
                max_prepared_statements,
                owner_role: db.owner_role.as_deref().and_then(|name| {
                    let loc = format!("{loc}.owner_role");
                    let name = template::fill_option(c, &loc, name, d);
                    owner_role(c, &loc, &name)
                }),
                server_database: db.server_database.clone().unwrap_or_else(|| d.name.clone()),
                mode: match pooling {
                    Pooling::Session => PoolMode::Session,
                    Pooling::Transaction => PoolMode::Transaction,
                },
                max_clients: db.max_client_conn,
                idle_in_transaction_timeout: (!idle_tx.is_zero()).then_some(idle_tx),
                statement_cache: db
                    .prepared_statement_cache
                    .unwrap_or(database::DEFAULT_STATEMENT_CACHE),
            }
        },
    )
}

/// A role name PostgreSQL can take from the startup packet.
fn owner_role(c: &mut Collector<'_>, loc: &str, name: &str) -> Option<OwnerRole> {
    OwnerRole::parse(name)
        .map_err(|e| c.add(loc, format!("\"{name}\" {e}")))
        .ok()
}
