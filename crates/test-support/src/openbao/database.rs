//! OpenBao's database secrets engine against the test servers: connections to a
//! PostgreSQL or MariaDB server, static roles (rotated passwords of an existing
//! user) and dynamic roles (a new user per lease), their credentials and leases.

use std::time::Duration;

use serde_json::{json, Value};

use super::cli::{json_str, json_u64, parse_json, secs};
use super::server::OpenBao;
use crate::mariadb::MariaDbServer;
use crate::postgres::auth::{SUPERUSER, SUPERUSER_PASSWORD};
use crate::postgres::psql::quote_literal;
use crate::postgres::server::PgServer;

/// Plugin name of OpenBao's builtin PostgreSQL database plugin.
pub const POSTGRES_PLUGIN: &str = "postgresql-database-plugin";
/// OpenBao's builtin plugin for MySQL and MariaDB.
pub const MYSQL_PLUGIN: &str = "mysql-database-plugin";

/// Credentials of a static database role
/// (`bao read -format=json <mount>/static-creds/<role>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticCreds {
    /// The database user (`data.username`).
    pub username: String,
    /// Its current password (`data.password`).
    pub password: String,
    /// Seconds until the next automatic rotation (`data.ttl`).
    pub ttl_secs: u64,
    /// When OpenBao last rotated the password, RFC 3339 with nanoseconds
    /// (`data.last_vault_rotation`).
    pub last_vault_rotation: String,
}

/// Credentials of a dynamic database role, with their lease
/// (`bao read -format=json <mount>/creds/<role>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicCreds {
    /// The generated database user (`data.username`).
    pub username: String,
    /// Its password (`data.password`).
    pub password: String,
    /// The lease, e.g. `database/creds/app/<id>` (`lease_id`).
    pub lease_id: String,
    /// Lease duration in seconds (`lease_duration`).
    pub lease_duration_secs: u64,
    /// Whether the lease can be renewed (`renewable`).
    pub renewable: bool,
}
impl OpenBao {
    /// Mounts the database secrets engine at `mount` (e.g. `"database"`),
    /// unless something is mounted there already.
    pub fn enable_database_engine(&self, mount: &str) {
        let mounts = parse_json(
            &self.bao(&["secrets", "list", "-format=json"]),
            "secrets list",
        );
        if mounts
            .get(format!("{}/", mount.trim_end_matches('/')))
            .is_none()
        {
            self.bao(&["secrets", "enable", &format!("-path={mount}"), "database"]);
        }
    }

    /// Configures connection `connection` of the database engine at `mount`
    /// for `pg`: builtin plugin `postgresql-database-plugin`, a
    /// `connection_url` templated with `{{username}}`/`{{password}}`, the
    /// superuser's credentials, `sslmode=disable`, and `allowed_roles`
    /// (`"*"` or a comma-separated list). OpenBao checks the connection
    /// (`verify_connection`).
    pub fn configure_postgres(
        &self,
        mount: &str,
        connection: &str,
        pg: &PgServer,
        allowed_roles: &str,
    ) {
        let url = format!(
            "postgresql://{{{{username}}}}:{{{{password}}}}@{}:{}/postgres?sslmode=disable",
            pg.host(),
            pg.port()
        );
        self.write_json(
            &format!("{mount}/config/{connection}"),
            &json!({
                "plugin_name": POSTGRES_PLUGIN,
                "connection_url": url,
                "username": SUPERUSER,
                "password": SUPERUSER_PASSWORD,
                "allowed_roles": allowed_roles,
                "verify_connection": true,
            }),
        );
    }

    /// Configures connection `connection` of the database engine at `mount` for the
    /// MariaDB `m`: builtin plugin `mysql-database-plugin`, logging in as its
    /// superuser over TCP, with `allowed_roles` (`"*"` or a comma-separated list).
    pub fn configure_mysql(
        &self,
        mount: &str,
        connection: &str,
        m: &MariaDbServer,
        allowed_roles: &str,
    ) {
        let (user, password) = m.superuser();
        let url = format!(
            "{{{{username}}}}:{{{{password}}}}@tcp({}:{})/",
            m.host(),
            m.port()
        );
        self.write_json(
            &format!("{mount}/config/{connection}"),
            &json!({
                "plugin_name": MYSQL_PLUGIN,
                "connection_url": url,
                "username": user,
                "password": password,
                "allowed_roles": allowed_roles,
                "verify_connection": true,
            }),
        );
    }

    /// Creates MySQL dynamic role `role`: every read of `<mount>/creds/<role>`
    /// creates a user `'{{name}}'@'%'` with the lease's password and runs `grant_sql`
    /// (`{{name}}` is the new user); revoking the lease drops the user.
    pub fn create_mysql_dynamic_role(
        &self,
        mount: &str,
        role: &str,
        connection: &str,
        default_ttl: Duration,
        max_ttl: Duration,
        grant_sql: &str,
    ) {
        let mut creation =
            vec!["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';".to_string()];
        if !grant_sql.trim().is_empty() {
            creation.push(grant_sql.to_string());
        }
        self.write_json(
            &format!("{mount}/roles/{role}"),
            &json!({
                "db_name": connection,
                "default_ttl": secs(default_ttl),
                "max_ttl": secs(max_ttl),
                "creation_statements": creation,
                "revocation_statements": ["DROP USER IF EXISTS '{{name}}'@'%';"],
            }),
        );
    }

    /// Creates static role `role` managing the existing database user
    /// `db_username` (create it first, e.g. with [`PgServer::create_user`]).
    /// OpenBao changes the user's password right away and then every
    /// `rotation_period` (whole seconds; OpenBao refuses less than 5s).
    pub fn create_static_role(
        &self,
        mount: &str,
        role: &str,
        connection: &str,
        db_username: &str,
        rotation_period: Duration,
    ) {
        self.write_json(
            &format!("{mount}/static-roles/{role}"),
            &json!({
                "db_name": connection,
                "username": db_username,
                "rotation_period": secs(rotation_period),
            }),
        );
    }

    /// Creates dynamic role `role`: every read of `<mount>/creds/<role>`
    /// creates a LOGIN role with a password that is `VALID UNTIL` the lease
    /// expires, then runs `grant_sql` (may be empty; `{{name}}` is the new
    /// role, quote it as `"{{name}}"`). Revoking the lease reassigns and
    /// drops what the role owns in database `postgres` and drops the role;
    /// open sessions are not terminated.
    pub fn create_dynamic_role(
        &self,
        mount: &str,
        role: &str,
        connection: &str,
        default_ttl: Duration,
        max_ttl: Duration,
        grant_sql: &str,
    ) {
        let mut creation = vec![
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' \
             VALID UNTIL '{{expiration}}';"
                .to_string(),
        ];
        if !grant_sql.trim().is_empty() {
            creation.push(grant_sql.to_string());
        }
        // The DO block is sent as one statement (OpenBao does not split
        // statements containing `$$`); it makes revocation idempotent.
        let revocation = vec![
            format!(
                "DO $$ BEGIN \
                 IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{{{{name}}}}') THEN \
                 EXECUTE format('REASSIGN OWNED BY %I TO %I', '{{{{name}}}}', {owner}); \
                 EXECUTE format('DROP OWNED BY %I', '{{{{name}}}}'); \
                 END IF; END $$;",
                owner = quote_literal(SUPERUSER)
            ),
            "DROP ROLE IF EXISTS \"{{name}}\";".to_string(),
        ];
        self.write_json(
            &format!("{mount}/roles/{role}"),
            &json!({
                "db_name": connection,
                "default_ttl": secs(default_ttl),
                "max_ttl": secs(max_ttl),
                "creation_statements": creation,
                "revocation_statements": revocation,
            }),
        );
    }

    /// Reads the current credentials of static role `role`.
    pub fn static_creds(&self, mount: &str, role: &str) -> StaticCreds {
        let answer = self.read_json(&format!("{mount}/static-creds/{role}"));
        StaticCreds {
            username: json_str(&answer, "/data/username"),
            password: json_str(&answer, "/data/password"),
            ttl_secs: json_u64(&answer, "/data/ttl"),
            last_vault_rotation: json_str(&answer, "/data/last_vault_rotation"),
        }
    }

    /// Creates a user of dynamic role `role` (reads `<mount>/creds/<role>`
    /// as root) and returns its credentials and lease.
    pub fn dynamic_creds(&self, mount: &str, role: &str) -> DynamicCreds {
        let answer = self.read_json(&format!("{mount}/creds/{role}"));
        DynamicCreds {
            username: json_str(&answer, "/data/username"),
            password: json_str(&answer, "/data/password"),
            lease_id: json_str(&answer, "/lease_id"),
            lease_duration_secs: json_u64(&answer, "/lease_duration"),
            renewable: answer
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// Rotates the password of static role `role` now
    /// (`bao write -f <mount>/rotate-role/<role>`; returns once done).
    pub fn rotate_role(&self, mount: &str, role: &str) {
        self.bao(&["write", "-f", &format!("{mount}/rotate-role/{role}")]);
    }

    /// Number of live leases under `prefix` (e.g. `"database/creds/app"`),
    /// counting the leases of nested prefixes too; 0 when there are none.
    pub fn lease_count(&self, prefix: &str) -> usize {
        let prefix = prefix.trim_matches('/');
        let path = format!("sys/leases/lookup/{prefix}/");
        let out = self.run_cli(&["list", "-format=json", &path], None, &[]);
        let stdout = out.stdout.trim();
        if !out.status.success() {
            // An empty listing is "not found": `{}` on stdout, exit code 2.
            if stdout == "{}" || out.stderr.contains("No value found") {
                return 0;
            }
            panic!(
                "`bao list {path}` failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
                out.status,
                out.stderr.trim_end()
            );
        }
        let entries = parse_json(stdout, &path);
        let entries = entries
            .as_array()
            .unwrap_or_else(|| panic!("`bao list {path}` did not answer a list: {entries}"));
        entries
            .iter()
            .map(|entry| match entry.as_str() {
                Some(sub) if sub.ends_with('/') => {
                    self.lease_count(&format!("{prefix}/{}", sub.trim_end_matches('/')))
                }
                Some(_) => 1,
                None => panic!("unexpected lease list entry {entry} under {path}"),
            })
            .sum()
    }
}
