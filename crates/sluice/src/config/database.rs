//! The database block both sections share: the cluster a database routes to, its pool
//! and its credentials. What only one protocol has (PostgreSQL's server database name,
//! MySQL's LOAD DATA switch) is the `route` part, checked by that section.

use pool_core::pool::PoolConfig;

use super::collector::Collector;
use super::credentials::{self, CredentialSettings, CredentialsConfig};
use super::vault::VaultConfig;

/// Declares a section's database block as written: the options every database has,
/// in the order the parser lists them, with the section's own options at three places
/// (after `cluster`, before `prepared_statement_cache`, before `credentials`). A
/// macro because the parser rejects unknown keys, which rules out flattening a shared
/// struct into each section's.
macro_rules! database_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            head { $($(#[$hm:meta])* pub $head:ident: $head_ty:ty,)* }
            middle { $($(#[$mm:meta])* pub $middle:ident: $middle_ty:ty,)* }
            tail { $($(#[$tm:meta])* pub $tail:ident: $tail_ty:ty,)* }
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub cluster: String,
            $($(#[$hm])* pub $head: $head_ty,)*
            #[serde(default = "crate::config::database::default_pool_mode")]
            pub pool_mode: String,
            #[serde(default = "crate::config::database::default_pool_size")]
            pub pool_size: usize,
            #[serde(default)]
            pub min_idle: usize,
            pub max_client_conn: Option<usize>,
            #[serde(default = "crate::config::database::default_checkout_timeout")]
            pub checkout_timeout: String,
            #[serde(default = "crate::config::database::default_server_lifetime")]
            pub server_lifetime: String,
            #[serde(default = "crate::config::database::default_lifetime_jitter")]
            pub server_lifetime_jitter: String,
            #[serde(default = "crate::config::database::default_server_idle_timeout")]
            pub server_idle_timeout: String,
            $($(#[$mm])* pub $middle: $middle_ty,)*
            #[serde(default = "crate::config::database::default_statement_cache")]
            pub prepared_statement_cache: usize,
            $($(#[$tm])* pub $tail: $tail_ty,)*
            /// The users of the users file that may reach this database; all when
            /// left out.
            pub users: Option<Vec<String>>,
            pub credentials: crate::config::credentials::CredentialsConfig,
        }

        impl $name {
            /// The options every database has, for the shared checks.
            fn shared(&self) -> crate::config::database::DatabaseFields<'_> {
                crate::config::database::DatabaseFields {
                    cluster: &self.cluster,
                    pool: crate::config::database::PoolOptions {
                        pool_mode: &self.pool_mode,
                        pool_size: self.pool_size,
                        min_idle: self.min_idle,
                        max_client_conn: self.max_client_conn,
                        prepared_statement_cache: self.prepared_statement_cache,
                        checkout_timeout: &self.checkout_timeout,
                        server_lifetime: &self.server_lifetime,
                        server_lifetime_jitter: &self.server_lifetime_jitter,
                        server_idle_timeout: &self.server_idle_timeout,
                    },
                    credentials: &self.credentials,
                }
            }
        }
    };
}
pub(super) use database_config;

pub(super) fn default_pool_mode() -> String {
    "transaction".into()
}
pub(super) fn default_pool_size() -> usize {
    20
}
pub(super) fn default_checkout_timeout() -> String {
    "30s".into()
}
pub(super) fn default_server_lifetime() -> String {
    "1h".into()
}
pub(super) fn default_lifetime_jitter() -> String {
    "5m".into()
}
pub(super) fn default_server_idle_timeout() -> String {
    "10m".into()
}
pub(super) fn default_statement_cache() -> usize {
    500
}
/// A client idle inside a transaction holds a server connection no one else can use:
/// after this long it is disconnected. Long enough for any interactive pause.
pub(super) fn default_idle_in_transaction_timeout() -> String {
    "10m".into()
}

/// A validated database: what a route is built from.
#[derive(Debug, Clone)]
pub struct DatabaseSettings<R> {
    /// The name of the cluster it routes to.
    pub cluster: String,
    pub pool: PoolConfig,
    pub credentials: CredentialSettings,
    /// The protocol's own route settings.
    pub route: R,
}

/// The options of a database block both protocols have, as written.
pub(super) struct DatabaseFields<'a> {
    pub cluster: &'a str,
    pub pool: PoolOptions<'a>,
    pub credentials: &'a CredentialsConfig,
}

/// The pool options PostgreSQL and MySQL databases share.
pub(super) struct PoolOptions<'a> {
    pub pool_mode: &'a str,
    pub pool_size: usize,
    pub min_idle: usize,
    pub max_client_conn: Option<usize>,
    pub prepared_statement_cache: usize,
    pub checkout_timeout: &'a str,
    pub server_lifetime: &'a str,
    pub server_lifetime_jitter: &'a str,
    pub server_idle_timeout: &'a str,
}

/// Whether a database's clients keep their server connection for the whole session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pooling {
    Transaction,
    Session,
}

/// Checks the shared part of the database block `name` of `section` (`postgres`,
/// `mysql`); `route` checks the protocol's own part, given the block's location and
/// its pooling mode.
pub(super) fn validate<R>(
    c: &mut Collector<'_>,
    section: &str,
    name: &str,
    f: DatabaseFields<'_>,
    cluster_known: bool,
    vault: Option<&VaultConfig>,
    route: impl FnOnce(&mut Collector<'_>, &str, Pooling) -> R,
) -> DatabaseSettings<R> {
    let loc = format!("{section}.databases.{name}");
    if !cluster_known {
        c.add(
            format!("{loc}.cluster"),
            format!("no cluster \"{}\" under [{section}.clusters]", f.cluster),
        );
    }
    let (pooling, pool) = pool_options(c, &loc, f.pool);
    let route = route(c, &loc, pooling);
    DatabaseSettings {
        cluster: f.cluster.to_owned(),
        pool,
        credentials: credentials::validate(c, &loc, f.credentials, vault),
        route,
    }
}

/// Checks the pool options of the database at `loc`.
fn pool_options(c: &mut Collector<'_>, loc: &str, o: PoolOptions<'_>) -> (Pooling, PoolConfig) {
    let pooling = match o.pool_mode {
        "transaction" => Pooling::Transaction,
        "session" => Pooling::Session,
        other => {
            c.add(
                format!("{loc}.pool_mode"),
                format!("\"{other}\" is not one of transaction, session"),
            );
            Pooling::Transaction
        }
    };
    if o.pool_size == 0 {
        c.add(format!("{loc}.pool_size"), "must be at least 1");
    }
    if o.min_idle > o.pool_size {
        c.add(format!("{loc}.min_idle"), "must not exceed pool_size");
    }
    if o.max_client_conn == Some(0) {
        c.add(format!("{loc}.max_client_conn"), "must be at least 1");
    }
    if o.prepared_statement_cache == 0 {
        c.add(
            format!("{loc}.prepared_statement_cache"),
            "must be at least 1",
        );
    }
    let checkout_timeout =
        c.positive_duration(&format!("{loc}.checkout_timeout"), o.checkout_timeout);
    let lifetime = c.duration(&format!("{loc}.server_lifetime"), o.server_lifetime);
    let jitter = c.duration(
        &format!("{loc}.server_lifetime_jitter"),
        o.server_lifetime_jitter,
    );
    if !lifetime.is_zero() && jitter >= lifetime {
        c.add(
            format!("{loc}.server_lifetime_jitter"),
            "must be shorter than server_lifetime",
        );
    }
    let idle = c.duration(&format!("{loc}.server_idle_timeout"), o.server_idle_timeout);
    let pool = PoolConfig {
        max_size: o.pool_size,
        min_idle: o.min_idle,
        checkout_timeout,
        max_lifetime: (!lifetime.is_zero()).then_some(lifetime),
        lifetime_jitter: jitter,
        idle_timeout: (!idle.is_zero()).then_some(idle),
    };
    (pooling, pool)
}
