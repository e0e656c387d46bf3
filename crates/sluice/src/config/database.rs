//! The database block both sections share: the cluster a database routes to, its pool
//! and its credentials, and the section's `defaults` table those options can come
//! from. What only one protocol has (PostgreSQL's server database name, MySQL's LOAD
//! DATA switch) is the `route` part, checked by that section.

use pool_core::pool::PoolConfig;

use super::collector::Collector;
use super::credentials::{self, CredentialSettings, CredentialsConfig};
use super::vault::VaultConfig;

/// Declares a section's database block as written, and its `defaults` table: the
/// options every database has, and the section's own ones in two groups, `own` (only
/// a database sets them) and `inherited` (the defaults table may set them too, each an
/// `Option`; the `@emit` arm lists every inherited option once, the shared ones first). Every option the defaults table may hold is an `Option` in the block, so
/// that "not written" is told apart from a value: the block's own value wins over the
/// section's default, which wins over sluice's. A macro because the parser rejects
/// unknown keys, which rules out flattening a shared struct into each section's.
macro_rules! database_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        $(#[$dmeta:meta])*
        pub struct $defaults:ident;
        own { $($(#[$om:meta])* pub $own:ident: $own_ty:ty,)* }
        inherited { $($(#[$im:meta])* pub $inh:ident: $inh_ty:ty,)* }
    ) => {
        crate::config::database::database_config! {
            @emit [$(#[$meta])*] $name [$(#[$dmeta])*] $defaults
            own { $($(#[$om])* pub $own: $own_ty,)* }
            inherited {
                pub cluster: Option<String>,
                pub pool_mode: Option<String>,
                pub pool_size: Option<usize>,
                pub min_idle: Option<usize>,
                pub max_client_conn: Option<usize>,
                pub checkout_timeout: Option<String>,
                pub server_lifetime: Option<String>,
                pub server_lifetime_jitter: Option<String>,
                pub server_idle_timeout: Option<String>,
                pub prepared_statement_cache: Option<usize>,
                $($(#[$im])* pub $inh: $inh_ty,)*
            }
        }
    };
    (
        @emit [$($meta:tt)*] $name:ident [$($dmeta:tt)*] $defaults:ident
        own { $($(#[$om:meta])* pub $own:ident: $own_ty:ty,)* }
        inherited { $($(#[$im:meta])* pub $inh:ident: $inh_ty:ty,)* }
    ) => {
        $($meta)*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$im])* pub $inh: $inh_ty,)*
            $($(#[$om])* pub $own: $own_ty,)*
            /// The users of the users file that may reach this database; all when
            /// left out.
            pub users: Option<Vec<String>>,
            /// The wildcard route's list of the databases it serves.
            pub allow: Option<Vec<String>>,
            pub credentials: crate::config::credentials::CredentialsConfig,
        }

        $($dmeta)*
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $defaults {
            $($(#[$im])* pub $inh: $inh_ty,)*
        }

        impl $name {
            /// The block with what it leaves out taken from the section's defaults.
            fn inherit(&self, d: &$defaults) -> Self {
                let mut db = self.clone();
                $(db.$inh = db.$inh.or_else(|| d.$inh.clone());)*
                db
            }

            /// The options every database has, sluice's defaults filling what neither
            /// the block nor the section's defaults set.
            fn shared(&self) -> crate::config::database::DatabaseFields<'_> {
                use crate::config::database as d;
                d::DatabaseFields {
                    cluster: self.cluster.as_deref(),
                    pool: d::PoolOptions {
                        pool_mode: self.pool_mode.as_deref().unwrap_or(d::DEFAULT_POOL_MODE),
                        pool_size: self.pool_size.unwrap_or(d::DEFAULT_POOL_SIZE),
                        min_idle: self.min_idle.unwrap_or(0),
                        max_client_conn: self.max_client_conn,
                        prepared_statement_cache: self
                            .prepared_statement_cache
                            .unwrap_or(d::DEFAULT_STATEMENT_CACHE),
                        checkout_timeout: self
                            .checkout_timeout
                            .as_deref()
                            .unwrap_or(d::DEFAULT_CHECKOUT_TIMEOUT),
                        server_lifetime: self
                            .server_lifetime
                            .as_deref()
                            .unwrap_or(d::DEFAULT_SERVER_LIFETIME),
                        server_lifetime_jitter: self
                            .server_lifetime_jitter
                            .as_deref()
                            .unwrap_or(d::DEFAULT_LIFETIME_JITTER),
                        server_idle_timeout: self
                            .server_idle_timeout
                            .as_deref()
                            .unwrap_or(d::DEFAULT_SERVER_IDLE_TIMEOUT),
                    },
                    credentials: &self.credentials,
                }
            }
        }

        impl crate::config::template::Block for $name {
            fn allow(&self) -> Option<&[String]> {
                self.allow.as_deref()
            }
            fn users(&self) -> Option<&[String]> {
                self.users.as_deref()
            }
            fn credentials(&self) -> &crate::config::credentials::CredentialsConfig {
                &self.credentials
            }
        }
    };
}
pub(super) use database_config;

pub(super) const DEFAULT_POOL_MODE: &str = "transaction";
pub(super) const DEFAULT_POOL_SIZE: usize = 20;
pub(super) const DEFAULT_CHECKOUT_TIMEOUT: &str = "30s";
pub(super) const DEFAULT_SERVER_LIFETIME: &str = "1h";
pub(super) const DEFAULT_LIFETIME_JITTER: &str = "5m";
pub(super) const DEFAULT_SERVER_IDLE_TIMEOUT: &str = "10m";
pub(super) const DEFAULT_STATEMENT_CACHE: usize = 500;
/// A client idle inside a transaction holds a server connection no one else can use:
/// after this long it is disconnected. Long enough for any interactive pause.
pub(super) const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: &str = "10m";

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
    /// `None` when neither the block nor the section's defaults name one.
    pub cluster: Option<&'a str>,
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

/// Checks the shared part of the database block at `loc` (`postgres.databases.app`)
/// of `section` (`postgres`, `mysql`); `route` checks the protocol's own part, given
/// the block's location and its pooling mode. `cluster_known` tells whether the
/// section has the cluster the block names.
pub(super) fn validate<R>(
    c: &mut Collector<'_>,
    section: &str,
    loc: &str,
    f: DatabaseFields<'_>,
    cluster_known: bool,
    vault: Option<&VaultConfig>,
    route: impl FnOnce(&mut Collector<'_>, &str, Pooling) -> R,
) -> DatabaseSettings<R> {
    match f.cluster {
        None => c.add(
            format!("{loc}.cluster"),
            format!("required: name a cluster here or in [{section}.defaults]"),
        ),
        Some(cluster) if !cluster_known => c.add(
            format!("{loc}.cluster"),
            format!("no cluster \"{cluster}\" under [{section}.clusters]"),
        ),
        Some(_) => {}
    }
    let (pooling, pool) = pool_options(c, loc, f.pool);
    let route = route(c, loc, pooling);
    DatabaseSettings {
        cluster: f.cluster.unwrap_or_default().to_owned(),
        pool,
        credentials: credentials::validate(c, loc, f.credentials, vault),
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

#[cfg(test)]
#[path = "database_tests.rs"]
mod tests;
