//! Turning a parsed config into typed settings, collecting every problem with the
//! location of the option (`postgres.databases.app.pool_size`) instead of stopping at
//! the first.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pg_proxy::route::PoolMode;
use pg_proxy::server::Endpoint;
use pg_proxy::tls::ServerTlsMode;
use pool_core::credentials::vault::{TokenFrom, VaultAuth, VaultSettings};
use pool_core::pool::PoolConfig;

use super::{duration, resolve_path, Config, CredentialsConfig, DatabaseConfig, VaultConfig};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Validated {
    pub log_format: LogFormat,
    pub log_level: String,
    pub admin_listen: SocketAddr,
    pub shutdown_grace: Duration,
    /// Worker threads (0: one per core).
    pub workers: usize,
    pub postgres: Option<PgSettings>,
    pub mysql: Option<super::mysql::MysqlSettings>,
    pub vault: Option<VaultSettings>,
}

#[derive(Debug, Clone)]
pub struct PgSettings {
    pub listen: SocketAddr,
    pub max_client_conn: usize,
    pub auth_timeout: Duration,
    pub users_file: PathBuf,
    pub hba_file: Option<PathBuf>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub clusters: BTreeMap<String, ClusterSettings>,
    pub databases: BTreeMap<String, DbSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    pub endpoints: Vec<Endpoint>,
    pub tls_mode: ServerTlsMode,
    pub tls_ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct DbSettings {
    pub cluster: String,
    pub server_database: String,
    pub mode: PoolMode,
    pub pool: PoolConfig,
    pub max_clients: Option<usize>,
    pub idle_in_transaction_timeout: Option<Duration>,
    pub statement_cache: usize,
    pub credentials: CredentialSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CredentialSettings {
    File {
        username: String,
        password_file: PathBuf,
    },
    VaultStatic {
        mount: String,
        role: String,
    },
    VaultDynamic {
        mount: String,
        role: String,
    },
}

pub(super) struct Collector {
    pub(super) problems: Vec<Problem>,
}

impl Collector {
    pub(super) fn add(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            location: location.into(),
            message: message.into(),
        });
    }

    pub(super) fn duration(&mut self, location: &str, text: &str) -> Duration {
        duration::parse(text).unwrap_or_else(|e| {
            self.add(location, e);
            Duration::ZERO
        })
    }

    pub(super) fn addr(&mut self, location: &str, text: &str) -> SocketAddr {
        text.parse().unwrap_or_else(|_| {
            self.add(
                location,
                format!("\"{text}\" is not an address like 0.0.0.0:6432"),
            );
            SocketAddr::from(([0, 0, 0, 0], 0))
        })
    }

    pub(super) fn path(
        &mut self,
        location: &str,
        text: &str,
        base: &Path,
        must_exist: bool,
    ) -> PathBuf {
        match resolve_path(text, base) {
            Ok(p) => {
                if must_exist && !p.exists() {
                    self.add(location, format!("file {} does not exist", p.display()));
                }
                p
            }
            Err(e) => {
                self.add(location, e);
                PathBuf::new()
            }
        }
    }
}

/// Checks everything that can be checked without connecting anywhere: values, references
/// between sections, and that the files named exist and parse.
pub fn validate(config: &Config, base: &Path) -> Result<Validated, Vec<Problem>> {
    let mut c = Collector {
        problems: Vec::new(),
    };
    let log_format = match config.log.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            c.add(
                "log.format",
                format!("\"{other}\" is not one of text, json"),
            );
            LogFormat::Text
        }
    };
    if tracing_subscriber::EnvFilter::try_new(&config.log.level).is_err() {
        c.add(
            "log.level",
            format!("\"{}\" is not a log filter", config.log.level),
        );
    }
    let admin_listen = c.addr("admin.listen", &config.admin.listen);
    let shutdown_grace = c.duration("admin.shutdown_grace", &config.admin.shutdown_grace);

    let postgres = config.postgres.as_ref().map(|pg| {
        let listen = c.addr("postgres.listen", &pg.listen);
        if pg.max_client_conn == 0 {
            c.add("postgres.max_client_conn", "must be at least 1");
        }
        let auth_timeout = c.duration("postgres.auth_timeout", &pg.auth_timeout);
        let users_file = c.path("postgres.users_file", &pg.users_file, base, true);
        if users_file.exists() {
            if let Err(e) = pool_core::users::Users::load(&users_file) {
                c.add("postgres.users_file", e.to_string());
            }
        }
        let hba_file = pg.hba_file.as_ref().map(|h| {
            let p = c.path("postgres.hba_file", h, base, true);
            if p.exists() {
                match std::fs::read_to_string(&p) {
                    Ok(text) => {
                        if let Err(e) = pool_core::hba::HbaRules::parse(&text) {
                            c.add("postgres.hba_file", e.to_string());
                        }
                    }
                    Err(e) => c.add("postgres.hba_file", e.to_string()),
                }
            }
            p
        });
        let tls = match (&pg.tls_cert_file, &pg.tls_key_file) {
            (Some(cert), Some(key)) => {
                let cert = c.path("postgres.tls_cert_file", cert, base, true);
                let key = c.path("postgres.tls_key_file", key, base, true);
                if cert.exists() && key.exists() {
                    if let Err(e) = pg_proxy::tls::server_config(&cert, &key) {
                        c.add("postgres.tls_cert_file", e.to_string());
                    }
                }
                Some((cert, key))
            }
            (None, None) => None,
            (Some(_), None) => {
                c.add(
                    "postgres.tls_key_file",
                    "tls_cert_file is set but tls_key_file is not",
                );
                None
            }
            (None, Some(_)) => {
                c.add(
                    "postgres.tls_cert_file",
                    "tls_key_file is set but tls_cert_file is not",
                );
                None
            }
        };
        let mut clusters = BTreeMap::new();
        for (name, cl) in &pg.clusters {
            let loc = format!("postgres.clusters.{name}");
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
            let connect_timeout =
                c.duration(&format!("{loc}.connect_timeout"), &cl.connect_timeout);
            if connect_timeout.is_zero() {
                c.add(format!("{loc}.connect_timeout"), "must be more than 0");
            }
            clusters.insert(
                name.clone(),
                ClusterSettings {
                    endpoints,
                    tls_mode,
                    tls_ca_file,
                    connect_timeout,
                },
            );
        }
        let mut databases = BTreeMap::new();
        if pg.databases.is_empty() {
            c.add(
                "postgres.databases",
                "no database is configured: clients could not connect to anything",
            );
        }
        for (name, db) in &pg.databases {
            databases.insert(
                name.clone(),
                database(&mut c, name, db, &pg.clusters, config.vault.as_ref(), base),
            );
        }
        PgSettings {
            listen,
            max_client_conn: pg.max_client_conn,
            auth_timeout,
            users_file,
            hba_file,
            tls,
            clusters,
            databases,
        }
    });
    let mysql = config
        .mysql
        .as_ref()
        .map(|m| super::mysql::validate(&mut c, m, config.vault.as_ref(), base));
    let vault = config.vault.as_ref().map(|v| vault(&mut c, v, base));
    if postgres.is_none() && mysql.is_none() {
        c.add(
            "postgres",
            "neither a [postgres] nor a [mysql] section: sluice would serve nothing",
        );
    }
    if c.problems.is_empty() {
        Ok(Validated {
            log_format,
            log_level: config.log.level.clone(),
            admin_listen,
            shutdown_grace,
            workers: config.runtime.workers,
            postgres,
            mysql,
            vault,
        })
    } else {
        Err(c.problems)
    }
}

fn database(
    c: &mut Collector,
    name: &str,
    db: &DatabaseConfig,
    clusters: &BTreeMap<String, super::ClusterConfig>,
    vault: Option<&VaultConfig>,
    base: &Path,
) -> DbSettings {
    let loc = format!("postgres.databases.{name}");
    if !clusters.contains_key(&db.cluster) {
        c.add(
            format!("{loc}.cluster"),
            format!("no cluster \"{}\" under [postgres.clusters]", db.cluster),
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
    let idle_tx = c.duration(
        &format!("{loc}.idle_in_transaction_timeout"),
        &db.idle_in_transaction_timeout,
    );
    let credentials = credentials(c, &loc, &db.credentials, vault, base);
    DbSettings {
        cluster: db.cluster.clone(),
        server_database: db
            .server_database
            .clone()
            .unwrap_or_else(|| name.to_owned()),
        mode,
        pool,
        max_clients: db.max_client_conn,
        idle_in_transaction_timeout: (!idle_tx.is_zero()).then_some(idle_tx),
        statement_cache: db.prepared_statement_cache,
        credentials,
    }
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

/// Checks the pool options of the database at `loc`. Returns whether the pooling mode
/// is `session` (else `transaction`), and the pool's settings.
pub(super) fn pool_options(c: &mut Collector, loc: &str, o: PoolOptions<'_>) -> (bool, PoolConfig) {
    let session = match o.pool_mode {
        "transaction" => false,
        "session" => true,
        other => {
            c.add(
                format!("{loc}.pool_mode"),
                format!("\"{other}\" is not one of transaction, session"),
            );
            false
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
    let checkout_timeout = c.duration(&format!("{loc}.checkout_timeout"), o.checkout_timeout);
    if checkout_timeout.is_zero() {
        c.add(format!("{loc}.checkout_timeout"), "must be more than 0");
    }
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
    (session, pool)
}

/// A route's credential source: exactly one of a password file or a Vault role.
pub(super) fn credentials(
    c: &mut Collector,
    loc: &str,
    cfg: &CredentialsConfig,
    vault: Option<&VaultConfig>,
    base: &Path,
) -> CredentialSettings {
    let loc = format!("{loc}.credentials");
    let kinds = [
        cfg.username.is_some() || cfg.password_file.is_some(),
        cfg.vault_static_role.is_some(),
        cfg.vault_dynamic_role.is_some(),
    ];
    let fallback = CredentialSettings::File {
        username: String::new(),
        password_file: PathBuf::new(),
    };
    if kinds.iter().filter(|k| **k).count() != 1 {
        c.add(
            loc,
            "needs exactly one of: username with password_file, vault_static_role, vault_dynamic_role",
        );
        return fallback;
    }
    if let (Some(u), Some(f)) = (&cfg.username, &cfg.password_file) {
        if cfg.mount.is_some() {
            c.add(format!("{loc}.mount"), "only applies to Vault roles");
        }
        return CredentialSettings::File {
            username: u.clone(),
            password_file: c.path(&format!("{loc}.password_file"), f, base, true),
        };
    }
    if cfg.username.is_some() || cfg.password_file.is_some() {
        c.add(loc, "needs both username and password_file");
        return fallback;
    }
    let Some(vault) = vault else {
        c.add(loc, "names a Vault role but there is no [vault] section");
        return fallback;
    };
    let mount = cfg.mount.clone().unwrap_or_else(|| vault.mount.clone());
    let role = cfg
        .vault_static_role
        .clone()
        .or_else(|| cfg.vault_dynamic_role.clone())
        .unwrap_or_default();
    if role.is_empty() || role.contains('/') {
        c.add(loc, format!("\"{role}\" is not a role name"));
    }
    if cfg.vault_static_role.is_some() {
        CredentialSettings::VaultStatic { mount, role }
    } else {
        CredentialSettings::VaultDynamic { mount, role }
    }
}

/// The `[vault]` section.
fn vault(c: &mut Collector, v: &VaultConfig, base: &Path) -> VaultSettings {
    if !(v.address.starts_with("http://") || v.address.starts_with("https://")) {
        c.add(
            "vault.address",
            format!("\"{}\" is not an http:// or https:// address", v.address),
        );
    }
    let request_timeout = c.duration("vault.request_timeout", &v.request_timeout);
    if request_timeout.is_zero() {
        c.add("vault.request_timeout", "must be more than 0");
    }
    let ca_file = v
        .ca_file
        .as_ref()
        .map(|f| c.path("vault.ca_file", f, base, true));
    let a = &v.auth;
    let require = |c: &mut Collector, key: &str, value: &Option<String>| -> String {
        value.clone().unwrap_or_else(|| {
            c.add(
                format!("vault.auth.{key}"),
                format!("is required with method \"{}\"", a.method),
            );
            String::new()
        })
    };
    let auth = match a.method.as_str() {
        "token" => VaultAuth::Token(match (&a.token_file, &a.token_env) {
            (Some(_), Some(_)) => {
                c.add("vault.auth", "set token_file or token_env, not both");
                TokenFrom::Env(String::new())
            }
            (Some(f), None) => TokenFrom::File(c.path("vault.auth.token_file", f, base, true)),
            (None, env) => TokenFrom::Env(env.clone().unwrap_or_else(|| "VAULT_TOKEN".into())),
        }),
        "approle" => {
            let role_id = require(c, "role_id", &a.role_id);
            let secret_id_file = require(c, "secret_id_file", &a.secret_id_file);
            VaultAuth::AppRole {
                mount: a.mount.clone().unwrap_or_else(|| "approle".into()),
                role_id,
                secret_id_file: c.path("vault.auth.secret_id_file", &secret_id_file, base, true),
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
                jwt_file: c.path("vault.auth.jwt_file", &jwt_file, base, false),
            }
        }
        other => {
            c.add(
                "vault.auth.method",
                format!("\"{other}\" is not one of token, approle, kubernetes"),
            );
            VaultAuth::Token(TokenFrom::Env(String::new()))
        }
    };
    VaultSettings {
        address: v.address.trim_end_matches('/').to_owned(),
        namespace: v.namespace.clone(),
        ca_file,
        request_timeout,
        auth,
    }
}

pub(super) fn parse_endpoint(h: &str) -> Result<Endpoint, String> {
    let (host, port) = h
        .rsplit_once(':')
        .ok_or_else(|| format!("\"{h}\" is not host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("\"{h}\" has an invalid port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("\"{h}\" has no host"));
    }
    Ok(Endpoint {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_with_its_location() {
        let cfg = Config::parse(
            r#"
            [admin]
            listen = "nope"
            [postgres]
            users_file = "/nonexistent/users.toml"
            [postgres.clusters.main]
            hosts = ["db:notaport"]
            tls_mode = "sometimes"
            [postgres.databases.app]
            cluster = "other"
            pool_size = 0
            pool_mode = "statement"
            checkout_timeout = "10"
            credentials = { username = "app" }
            "#,
        )
        .unwrap();
        let problems = validate(&cfg, Path::new("/")).unwrap_err();
        let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
        for expected in [
            "admin.listen",
            "postgres.users_file",
            "postgres.clusters.main.hosts",
            "postgres.clusters.main.tls_mode",
            "postgres.databases.app.cluster",
            "postgres.databases.app.pool_size",
            "postgres.databases.app.pool_mode",
            "postgres.databases.app.checkout_timeout",
            "postgres.databases.app.credentials",
        ] {
            assert!(
                locations.contains(&expected),
                "missing {expected} in {problems:?}"
            );
        }
    }

    #[test]
    fn vault_problems_are_reported_with_their_location() {
        let cfg = Config::parse(
            r#"
            [vault]
            address = "vault:8200"
            request_timeout = "0s"
            [vault.auth]
            method = "approle"
            [postgres]
            users_file = "/nonexistent/users.toml"
            [postgres.clusters.main]
            hosts = ["db:5432"]
            [postgres.databases.both]
            cluster = "main"
            credentials = { username = "u", vault_static_role = "r" }
            [postgres.databases.slash]
            cluster = "main"
            credentials = { vault_dynamic_role = "a/b" }
            [postgres.databases.mount_on_file]
            cluster = "main"
            credentials = { username = "u", password_file = "/etc/hostname", mount = "db" }
            "#,
        )
        .unwrap();
        let problems = validate(&cfg, Path::new("/")).unwrap_err();
        let locations: Vec<_> = problems.iter().map(|p| p.location.as_str()).collect();
        for expected in [
            "vault.address",
            "vault.request_timeout",
            "vault.auth.role_id",
            "vault.auth.secret_id_file",
            "postgres.databases.both.credentials",
            "postgres.databases.slash.credentials",
            "postgres.databases.mount_on_file.credentials.mount",
        ] {
            assert!(
                locations.contains(&expected),
                "missing {expected} in {problems:?}"
            );
        }
    }

    #[test]
    fn a_vault_role_needs_a_vault_section() {
        let cfg = Config::parse(
            r#"
            [postgres]
            users_file = "/nonexistent/users.toml"
            [postgres.clusters.main]
            hosts = ["db:5432"]
            [postgres.databases.app]
            cluster = "main"
            credentials = { vault_static_role = "app" }
            "#,
        )
        .unwrap();
        let problems = validate(&cfg, Path::new("/")).unwrap_err();
        assert!(problems
            .iter()
            .any(|p| p.location == "postgres.databases.app.credentials"
                && p.message.contains("no [vault] section")));
    }

    #[test]
    fn vault_roles_and_kubernetes_login_take_their_defaults() {
        let dir = std::env::temp_dir().join(format!("sluice-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("users.toml"), "").unwrap();
        let cfg = Config::parse(
            r#"
            [vault]
            address = "https://vault.vault.svc:8200/"
            namespace = "platform"
            [vault.auth]
            method = "kubernetes"
            role = "sluice"
            [postgres]
            users_file = "users.toml"
            [postgres.clusters.main]
            hosts = ["pg-cluster-rw:5432"]
            [postgres.databases.orders]
            cluster = "main"
            credentials = { vault_static_role = "orders", mount = "database-prod" }
            [postgres.databases.reports]
            cluster = "main"
            credentials = { vault_dynamic_role = "reports" }
            "#,
        )
        .unwrap();
        let v = validate(&cfg, &dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let vault = v.vault.unwrap();
        assert_eq!(vault.address, "https://vault.vault.svc:8200");
        assert_eq!(vault.namespace.as_deref(), Some("platform"));
        assert_eq!(vault.request_timeout, Duration::from_secs(10));
        assert_eq!(
            vault.auth,
            VaultAuth::Kubernetes {
                mount: "kubernetes".into(),
                role: "sluice".into(),
                jwt_file: "/var/run/secrets/kubernetes.io/serviceaccount/token".into(),
            }
        );
        let dbs = v.postgres.unwrap().databases;
        assert_eq!(
            dbs["orders"].credentials,
            CredentialSettings::VaultStatic {
                mount: "database-prod".into(),
                role: "orders".into()
            }
        );
        assert_eq!(
            dbs["reports"].credentials,
            CredentialSettings::VaultDynamic {
                mount: "database".into(),
                role: "reports".into()
            }
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_the_parser() {
        let err = Config::parse("[postgres]\nusers_file = \"u\"\npool_szie = 3\n").unwrap_err();
        assert!(err.contains("pool_szie"), "{err}");
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            parse_endpoint("pg-cluster-rw.dbaas.svc:5432").unwrap(),
            Endpoint {
                host: "pg-cluster-rw.dbaas.svc".into(),
                port: 5432
            }
        );
        assert_eq!(parse_endpoint("[::1]:5432").unwrap().host, "::1");
        assert!(parse_endpoint("db").is_err());
    }
}
