//! Helpers that start real PostgreSQL 15 servers for sluice's tests.
//!
//! Every [`PgServer`] is a private cluster: its own temporary directory, data
//! directory, unix socket directory, log file and a free loopback TCP port.
//! Several servers can run at the same time, in the same process or in
//! different processes.
//!
//! `initdb` and `postgres` refuse to run as root, so when the tests run as
//! root the server binaries are started as the `postgres` OS user through
//! `runuser`, inside a temporary directory owned by that user.
//!
//! All functions here are synchronous and may block for a few seconds; they
//! can be called from plain tests and from `#[tokio::test]` functions alike,
//! as long as nothing on the calling runtime thread has to make progress
//! while they run (they only talk to the PostgreSQL server directly).
//!
//! The [`openbao`] module starts OpenBao (Vault-API-compatible) dev servers
//! whose database secrets engine manages users of a [`PgServer`].
//!
//! The [`mariadb`] module starts private MariaDB 10.11 servers, optionally
//! as a primary and a binlog replica.
//!
//! Environment variables:
//! * `SLUICE_PG_BINDIR`: directory holding the PostgreSQL binaries
//!   (default: `pg_config --bindir`, then `/usr/lib/postgresql/15/bin`).
//! * `SLUICE_TEST_TMPDIR`: where the temporary directories are created
//!   (default: `/tmp`).
//! * `SLUICE_KEEP_PG_DIR`: when set, a server's directory (data and log) is
//!   kept after the server is dropped and its path is printed.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod mariadb;
pub mod openbao;

pub use mariadb::MariaDbServer;
pub use openbao::{DynamicCreds, OpenBao, StaticCreds};

/// Name of the superuser role of every test server.
pub const SUPERUSER: &str = "postgres";
/// Password of the superuser role of every test server.
pub const SUPERUSER_PASSWORD: &str = "sluice-test-superuser-pw";
/// How to get the PostgreSQL binaries when they are missing.
pub const INSTALL_HINT: &str =
    "install them with `apt-get install -y postgresql-15 postgresql-client-15` \
     (or run scripts/install-deps.sh)";

const DEFAULT_BINDIR: &str = "/usr/lib/postgresql/15/bin";
const LOOPBACK: &str = "127.0.0.1";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 5;
/// Ports that belong to services of the machine itself.
const RESERVED_PORTS: [u16; 2] = [5432, 3306];

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// Returns a loopback TCP port that is currently free.
///
/// The port is found by binding `127.0.0.1:0`; the listener is closed before
/// returning. A port is never handed out twice by the same process, and the
/// ports of the machine's own services (5432, 3306) are never returned.
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..1000 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("cannot bind a loopback TCP port: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read local address of a listener: {e}"))
            .port();
        drop(listener);
        if RESERVED_PORTS.contains(&port) {
            continue;
        }
        if lock(handed_out).insert(port) {
            return port;
        }
    }
    panic!("could not find a free loopback TCP port");
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
/// Returns `false` when `timeout` elapses first.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.clamp(Duration::from_millis(10), Duration::from_millis(500));
        if TcpStream::connect_timeout(&addr, attempt).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25).min(left));
    }
}

// ---------------------------------------------------------------------------
// Binaries and OS users
// ---------------------------------------------------------------------------

/// Full path of a PostgreSQL binary (`initdb`, `pg_ctl`, `psql`, `pgbench`, ...).
///
/// Panics with installation instructions when it cannot be found.
pub fn pg_bin(name: &str) -> PathBuf {
    for dir in bindir_candidates() {
        let path = dir.join(name);
        if is_executable(&path) {
            return path;
        }
    }
    let looked: Vec<String> = bindir_candidates()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    panic!(
        "PostgreSQL binary `{name}` not found (looked in: {}). The tests need PostgreSQL 15: {INSTALL_HINT}",
        if looked.is_empty() {
            "nothing".to_string()
        } else {
            looked.join(", ")
        }
    );
}

/// Path of the `psql` binary.
pub fn psql_bin() -> PathBuf {
    pg_bin("psql")
}

/// Path of the `pgbench` binary.
pub fn pgbench_bin() -> PathBuf {
    pg_bin("pgbench")
}

fn bindir_candidates() -> &'static [PathBuf] {
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let mut dirs = Vec::new();
        if let Some(dir) = std::env::var_os("SLUICE_PG_BINDIR") {
            if !dir.is_empty() {
                dirs.push(PathBuf::from(dir));
            }
        }
        if let Ok(out) = Command::new("pg_config")
            .arg("--bindir")
            .stdin(Stdio::null())
            .output()
        {
            if out.status.success() {
                let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !dir.is_empty() {
                    dirs.push(PathBuf::from(dir));
                }
            }
        }
        dirs.push(PathBuf::from(DEFAULT_BINDIR));
        dirs.dedup();
        dirs
    })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether this process runs with effective uid 0.
fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        if let Ok(status) = fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                if let Some(rest) = line.strip_prefix("Uid:") {
                    // real, effective, saved, fs
                    if let Some(euid) = rest.split_whitespace().nth(1) {
                        return euid == "0";
                    }
                }
            }
        }
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// uid and gid of the `postgres` OS user, if it exists.
fn postgres_os_user() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| {
        let passwd = fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() >= 4 && fields[0] == "postgres" {
                Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
            } else {
                None
            }
        })
    })
}

fn required_postgres_os_user() -> (u32, u32) {
    postgres_os_user().unwrap_or_else(|| {
        panic!(
            "the tests run as root, so PostgreSQL has to run as the `postgres` OS user, \
             which does not exist; it is created by the PostgreSQL packages: {INSTALL_HINT}"
        )
    })
}

fn runuser_bin() -> PathBuf {
    for candidate in ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"] {
        let path = PathBuf::from(candidate);
        if is_executable(&path) {
            return path;
        }
    }
    PathBuf::from("runuser")
}

/// A command that runs `bin` as the `postgres` OS user when we are root, or
/// as ourselves otherwise.
fn server_command(bin: &Path, cwd: &Path) -> Command {
    let mut cmd = if running_as_root() {
        required_postgres_os_user();
        let mut cmd = Command::new(runuser_bin());
        cmd.arg("-u").arg("postgres").arg("--").arg(bin);
        cmd
    } else {
        Command::new(bin)
    };
    clean_pg_env(&mut cmd);
    cmd.current_dir(cwd).stdin(Stdio::null());
    cmd
}

/// Removes libpq/PostgreSQL environment variables that could redirect a
/// command to another server or data directory.
fn clean_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LC_MESSAGES", "C");
}

/// Gives a file or directory to the `postgres` OS user when we are root.
fn give_to_postgres(path: &Path) {
    if running_as_root() {
        let (uid, gid) = required_postgres_os_user();
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
    }
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

fn make_tempdir(prefix: &str) -> TempDir {
    let base = match std::env::var_os("SLUICE_TEST_TMPDIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ if Path::new("/tmp").is_dir() => PathBuf::from("/tmp"),
        _ => std::env::temp_dir(),
    };
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .unwrap_or_else(|e| {
            panic!(
                "cannot create a temporary directory in {}: {e}",
                base.display()
            )
        })
}

fn run_checked(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Quoting
// ---------------------------------------------------------------------------

/// Quotes an SQL identifier: `a"b` becomes `"a""b"`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal: `it's` becomes `'it''s'`.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Quotes a value for a libpq `key=value` connection string when needed.
fn conninfo_value(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\' || c == '=');
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

fn conf_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

// ---------------------------------------------------------------------------
// psql
// ---------------------------------------------------------------------------

/// Runs `psql -X -q -A -t -v ON_ERROR_STOP=1 -d <conninfo> -c <sql>`.
///
/// Returns the trimmed standard output, or the standard error on failure.
/// Blocks until psql exits.
pub fn run_psql(conninfo: &str, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new(psql_bin());
    clean_pg_env(&mut cmd);
    cmd.env("PGCONNECT_TIMEOUT", "10")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(conninfo)
        .arg("-c")
        .arg(sql)
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", psql_bin().display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "psql exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

// ---------------------------------------------------------------------------
// TLS material
// ---------------------------------------------------------------------------

/// A test CA and a server certificate signed by it, as PEM files.
pub struct TlsFiles {
    /// Directory holding the files.
    pub dir: PathBuf,
    /// Certificate of the CA that signed `server_cert`.
    pub ca_cert: PathBuf,
    /// Private key of the CA (PKCS#8 PEM), to sign further certificates.
    pub ca_key: PathBuf,
    /// Server certificate (SANs: the requested names, `localhost`, `127.0.0.1`).
    pub server_cert: PathBuf,
    /// Private key of the server certificate (PKCS#8 PEM, mode 0600).
    pub server_key: PathBuf,
    _tmp: Option<TempDir>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("dir", &self.dir)
            .field("ca_cert", &self.ca_cert)
            .field("ca_key", &self.ca_key)
            .field("server_cert", &self.server_cert)
            .field("server_key", &self.server_key)
            .finish()
    }
}

/// Creates a CA and a server certificate for `hostnames` (plus `localhost`
/// and `127.0.0.1`; names that parse as IP addresses become IP SANs) in a
/// new temporary directory, removed when the returned value is dropped.
///
/// When running as root the files are owned by the `postgres` OS user (if it
/// exists), so that a PostgreSQL server can use them too. Keys have mode 0600.
pub fn make_tls_files(hostnames: &[&str]) -> TlsFiles {
    let tmp = make_tempdir("sluice-tls-");
    let dir = tmp.path().to_path_buf();
    let mut files = write_tls_files(&dir, hostnames);
    set_mode(&dir, 0o755);
    if running_as_root() && postgres_os_user().is_some() {
        for path in [
            &files.dir,
            &files.ca_cert,
            &files.ca_key,
            &files.server_cert,
            &files.server_key,
        ] {
            give_to_postgres(path);
        }
    }
    files._tmp = Some(tmp);
    files
}

fn write_tls_files(dir: &Path, hostnames: &[&str]) -> TlsFiles {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };

    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));

    let ca_key = KeyPair::generate().expect("generate CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    let mut ca_dn = DistinguishedName::new();
    ca_dn.push(DnType::OrganizationName, "sluice tests");
    ca_dn.push(DnType::CommonName, "sluice test CA");
    ca_params.distinguished_name = ca_dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");

    let mut names: Vec<String> = Vec::new();
    for name in hostnames
        .iter()
        .copied()
        .chain(["localhost", LOOPBACK])
        .map(str::trim)
    {
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    let common_name = names
        .iter()
        .find(|n| n.parse::<IpAddr>().is_err())
        .cloned()
        .unwrap_or_else(|| "localhost".to_string());
    let server_key = KeyPair::generate().expect("generate server key");
    let mut server_params = CertificateParams::new(names).expect("server certificate names");
    let mut server_dn = DistinguishedName::new();
    server_dn.push(DnType::OrganizationName, "sluice tests");
    server_dn.push(DnType::CommonName, common_name);
    server_params.distinguished_name = server_dn;
    server_params.is_ca = IsCa::ExplicitNoCa;
    server_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    server_params.use_authority_key_identifier_extension = true;
    let server_cert = server_params
        .signed_by(&server_key, &ca_cert, &ca_key)
        .expect("sign server certificate");

    let write = |name: &str, contents: String, mode: u32| -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        set_mode(&path, mode);
        path
    };
    TlsFiles {
        dir: dir.to_path_buf(),
        ca_cert: write("ca.crt", ca_cert.pem(), 0o644),
        ca_key: write("ca.key", ca_key.serialize_pem(), 0o600),
        server_cert: write("server.crt", server_cert.pem(), 0o644),
        server_key: write("server.key", server_key.serialize_pem(), 0o600),
        _tmp: None,
    }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// How a role created with [`PgServer::create_user`] stores its password and
/// authenticates over TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// Password stored as a SCRAM-SHA-256 verifier; `scram-sha-256` in pg_hba.conf.
    Scram,
    /// Password stored as an MD5 hash; `md5` in pg_hba.conf.
    Md5,
    /// Password stored as SCRAM; `password` (cleartext) in pg_hba.conf.
    Cleartext,
}

impl AuthMethod {
    /// The method name used in pg_hba.conf.
    pub fn hba_name(self) -> &'static str {
        match self {
            AuthMethod::Scram => "scram-sha-256",
            AuthMethod::Md5 => "md5",
            AuthMethod::Cleartext => "password",
        }
    }

    /// The code of the AuthenticationRequest message the server sends.
    fn auth_request_code(self) -> i32 {
        match self {
            AuthMethod::Scram => 10,
            AuthMethod::Md5 => 5,
            AuthMethod::Cleartext => 3,
        }
    }
}

/// Options for [`PgServer::start_with`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Enable TLS (`ssl = on`) with a certificate signed by a fresh test CA.
    pub tls: bool,
    /// `max_connections` of the server.
    pub max_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            tls: false,
            max_connections: 200,
        }
    }
}

/// A running PostgreSQL server private to a test. Dropping it stops the
/// server and removes its directory.
pub struct PgServer {
    port: u16,
    options: PgOptions,
    root: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    tls: Option<TlsFiles>,
    hba_users: Mutex<Vec<(String, AuthMethod)>>,
    running: bool,
    watchdog: Option<Child>,
    tmp: Option<TempDir>,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("options", &self.options)
            .field("dir", &self.root)
            .field("running", &self.running)
            .finish()
    }
}

impl PgServer {
    /// Starts a server with [`PgOptions::default`].
    pub fn start() -> PgServer {
        PgServer::start_with(PgOptions::default())
    }

    /// Starts a server. Panics (showing the server log) when it does not
    /// become ready within 30 seconds.
    pub fn start_with(options: PgOptions) -> PgServer {
        let initdb = pg_bin("initdb");
        pg_bin("pg_ctl");
        pg_bin("postgres");
        psql_bin();
        if running_as_root() {
            required_postgres_os_user();
        }

        let tmp = make_tempdir("sluice-pg-");
        let root = tmp.path().to_path_buf();
        set_mode(&root, 0o755);
        give_to_postgres(&root);

        let mut server = PgServer {
            port: 0,
            options,
            data_dir: root.join("data"),
            socket_dir: root.join("sock"),
            log_path: root.join("postgresql.log"),
            root,
            tls: None,
            hba_users: Mutex::new(Vec::new()),
            running: false,
            watchdog: None,
            tmp: Some(tmp),
        };

        fs::create_dir(&server.socket_dir)
            .unwrap_or_else(|e| panic!("create {}: {e}", server.socket_dir.display()));
        give_to_postgres(&server.socket_dir);

        // The log file is created here so that it is readable even before
        // the server writes to it.
        fs::write(&server.log_path, b"").expect("create log file");
        set_mode(&server.log_path, 0o644);
        give_to_postgres(&server.log_path);

        server.init_cluster(&initdb);

        if server.options.tls {
            let tls = write_tls_files(&server.root.join("tls"), &[]);
            for path in [
                &tls.dir,
                &tls.ca_cert,
                &tls.ca_key,
                &tls.server_cert,
                &tls.server_key,
            ] {
                give_to_postgres(path);
            }
            server.tls = Some(tls);
        }

        server.write_hba(&[]);
        server.spawn_watchdog();
        server.launch();
        server
    }

    fn init_cluster(&self, initdb: &Path) {
        let pwfile = self.root.join("superuser.pw");
        fs::write(&pwfile, format!("{SUPERUSER_PASSWORD}\n")).expect("write password file");
        set_mode(&pwfile, 0o600);
        give_to_postgres(&pwfile);

        let mut cmd = server_command(initdb, &self.root);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-U")
            .arg(SUPERUSER)
            .arg(format!("--pwfile={}", pwfile.display()))
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            ]);
        run_checked(cmd, "initdb");
        let _ = fs::remove_file(&pwfile);

        let conf = self.data_dir.join("postgresql.conf");
        let mut main_conf = fs::read_to_string(&conf).expect("read postgresql.conf");
        main_conf.push_str("\ninclude 'sluice_test.conf'\n");
        fs::write(&conf, main_conf).expect("write postgresql.conf");
    }

    fn write_settings(&self) {
        let mut s = String::new();
        let mut set = |key: &str, value: String| {
            s.push_str(key);
            s.push_str(" = ");
            s.push_str(&value);
            s.push('\n');
        };
        set("listen_addresses", conf_quote(LOOPBACK));
        set("port", self.port.to_string());
        set(
            "unix_socket_directories",
            conf_quote(&self.socket_dir.to_string_lossy()),
        );
        set("max_connections", self.options.max_connections.to_string());
        set("fsync", "off".into());
        set("synchronous_commit", "off".into());
        set("full_page_writes", "off".into());
        set("shared_buffers", conf_quote("64MB"));
        set("password_encryption", conf_quote("scram-sha-256"));
        set("logging_collector", "off".into());
        set("log_connections", "on".into());
        set("log_disconnections", "on".into());
        set("log_line_prefix", conf_quote("%m [%p] %q%u@%d "));
        set("lc_messages", conf_quote("C"));
        if let Some(tls) = &self.tls {
            set("ssl", "on".into());
            set(
                "ssl_cert_file",
                conf_quote(&tls.server_cert.to_string_lossy()),
            );
            set(
                "ssl_key_file",
                conf_quote(&tls.server_key.to_string_lossy()),
            );
        } else {
            set("ssl", "off".into());
        }
        let path = self.data_dir.join("sluice_test.conf");
        fs::write(&path, s).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        give_to_postgres(&path);
    }

    fn write_hba(&self, users: &[(String, AuthMethod)]) {
        let mut hba =
            String::from("# TYPE  DATABASE  USER  ADDRESS  METHOD\nlocal all all trust\n");
        for (user, method) in users {
            hba.push_str(&format!(
                "host all \"{user}\" 127.0.0.1/32 {}\n",
                method.hba_name()
            ));
        }
        hba.push_str(
            "host all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n\
             local replication all trust\n\
             host replication all 127.0.0.1/32 scram-sha-256\n",
        );
        let path = self.data_dir.join("pg_hba.conf");
        let tmp = self.data_dir.join("pg_hba.conf.new");
        fs::write(&tmp, hba).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        set_mode(&tmp, 0o600);
        give_to_postgres(&tmp);
        fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("replace {}: {e}", path.display()));
    }

    /// Starts a helper that stops the server and removes its directory if
    /// this process goes away without dropping the `PgServer` (for example
    /// when the test binary is killed). It waits for end-of-file on a pipe
    /// whose write end only this process holds.
    fn spawn_watchdog(&mut self) {
        let pg_ctl = pg_bin("pg_ctl");
        let stop = if running_as_root() {
            format!(
                "{} -u postgres -- {}",
                shell_quote(&runuser_bin().to_string_lossy()),
                shell_quote(&pg_ctl.to_string_lossy())
            )
        } else {
            shell_quote(&pg_ctl.to_string_lossy())
        };
        let remove = if std::env::var_os("SLUICE_KEEP_PG_DIR").is_some() {
            String::new()
        } else {
            format!("rm -rf {}", shell_quote(&self.root.to_string_lossy()))
        };
        let script = format!(
            "trap '' INT TERM HUP; cat >/dev/null; \
             if [ -f {pid} ]; then {stop} -D {data} stop -m immediate -w -t 30; fi; {remove}",
            pid = shell_quote(&self.data_dir.join("postmaster.pid").to_string_lossy()),
            data = shell_quote(&self.data_dir.to_string_lossy()),
        );
        let mut cmd = Command::new("/bin/sh");
        clean_pg_env(&mut cmd);
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

    fn launch(&mut self) {
        let pg_ctl = pg_bin("pg_ctl");
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.port = free_port();
            self.write_settings();
            let log_before = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0);

            let mut cmd = server_command(&pg_ctl, &self.root);
            cmd.arg("start")
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&self.log_path)
                .arg("-w")
                .arg("-t")
                .arg(STARTUP_TIMEOUT.as_secs().to_string());
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", pg_ctl.display()));
            self.running = true;
            if out.status.success() {
                break;
            }
            let log = self.log_contents();
            let new_log = log.get(log_before as usize..).unwrap_or(&log);
            let port_taken = new_log.contains("Address already in use")
                || new_log.contains("could not create any TCP/IP sockets");
            self.kill_immediately();
            if port_taken && attempt < START_ATTEMPTS {
                continue;
            }
            panic!(
                "PostgreSQL did not start (port {}, dir {}):\n--- pg_ctl ---\n{}{}\n--- server log ---\n{}",
                self.port,
                self.root.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                log
            );
        }

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let pg_isready = pg_bin("pg_isready");
        loop {
            let mut cmd = Command::new(&pg_isready);
            clean_pg_env(&mut cmd);
            let ready = cmd
                .args(["-q", "-t", "2", "-h", LOOPBACK, "-p"])
                .arg(self.port.to_string())
                .args(["-U", SUPERUSER, "-d", "postgres"])
                .stdin(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "PostgreSQL on port {} did not accept connections within {:?}:\n--- server log ---\n{}",
                    self.port,
                    STARTUP_TIMEOUT,
                    self.log_contents()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Address the server listens on: `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        LOOPBACK
    }

    /// Superuser name and password (password authentication is required over TCP).
    pub fn superuser(&self) -> (&str, &str) {
        (SUPERUSER, SUPERUSER_PASSWORD)
    }

    /// The options the server was started with.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// The TLS files used by the server (CA, certificate, key), when TLS is on.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Directory of the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
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

    /// A libpq-style connection string for this server over TCP:
    /// `host=127.0.0.1 port=.. user=.. password=.. dbname=..`.
    pub fn connection_string(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "host={} port={} user={} password={} dbname={}",
            LOOPBACK,
            self.port,
            conninfo_value(user),
            conninfo_value(password),
            conninfo_value(db)
        )
    }

    /// Connection string of the superuser to database `postgres`.
    pub fn superuser_connection_string(&self) -> String {
        self.connection_string(SUPERUSER, SUPERUSER_PASSWORD, "postgres")
    }

    /// Runs `sql` with psql as the superuser in database `postgres` and
    /// returns the trimmed output (unaligned, tuples only: one line per row,
    /// columns separated by `|`). Panics with psql's error output on failure.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("postgres", sql)
    }

    /// Like [`PgServer::psql`] in database `db`.
    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        let conninfo = self.connection_string(SUPERUSER, SUPERUSER_PASSWORD, db);
        run_psql(&conninfo, sql).unwrap_or_else(|err| {
            panic!(
                "psql on port {} failed for {sql:?}:\n{err}\n--- server log (tail) ---\n{}",
                self.port,
                tail(&self.log_contents(), 40)
            )
        })
    }

    /// Creates a LOGIN role with `password` stored as `method` requires,
    /// allows it to create objects in database `postgres` and in schema
    /// `public`, and routes its TCP connections to `method` in pg_hba.conf.
    /// Returns once the server applies the new pg_hba.conf.
    pub fn create_user(&self, name: &str, password: &str, method: AuthMethod) {
        assert!(
            !name.is_empty() && !name.contains(['"', '\n', '\r', '\0']),
            "unsupported role name {name:?}"
        );
        let encryption = match method {
            AuthMethod::Md5 => "md5",
            AuthMethod::Scram | AuthMethod::Cleartext => "scram-sha-256",
        };
        let ident = quote_ident(name);
        self.psql(&format!(
            "SET password_encryption = {enc}; \
             CREATE ROLE {ident} LOGIN PASSWORD {pw}; \
             GRANT CREATE ON DATABASE postgres TO {ident}; \
             GRANT CREATE ON SCHEMA public TO {ident};",
            enc = quote_literal(encryption),
            pw = quote_literal(password),
        ));
        {
            let mut users = lock(&self.hba_users);
            users.retain(|(user, _)| user != name);
            users.push((name.to_string(), method));
            self.write_hba(&users);
        }
        self.reload_and_wait(name, method);
    }

    /// Creates database `name` owned by role `owner`.
    pub fn create_database(&self, name: &str, owner: &str) {
        self.psql(&format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(name),
            quote_ident(owner)
        ));
    }

    fn reload_and_wait(&self, user: &str, method: AuthMethod) {
        let expected = method.auth_request_code();
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        let mut last = None;
        let mut reloaded_at: Option<Instant> = None;
        loop {
            if reloaded_at.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
                self.psql("SELECT pg_reload_conf()");
                reloaded_at = Some(Instant::now());
            }
            last = match probe_auth_request(self.port, user) {
                Ok(code) if code == Some(expected) => return,
                Ok(code) => code.map(|c| c.to_string()),
                Err(e) => Some(e.to_string()),
            }
            .or(last);
            if Instant::now() >= deadline {
                panic!(
                    "pg_hba.conf change for {user:?} ({}) was not applied within {:?} \
                     (last answer: {last:?})\n--- server log ---\n{}",
                    method.hba_name(),
                    RELOAD_TIMEOUT,
                    self.log_contents()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Restarts the server in recovery, as a standby without a primary to follow:
    /// it accepts read-only sessions and answers `pg_is_in_recovery() = true`, as a
    /// replica does. Roles and databases made before stay. The port changes.
    pub fn restart_as_standby(&mut self) {
        self.stop();
        let signal = self.data_dir.join("standby.signal");
        fs::write(&signal, b"").unwrap_or_else(|e| panic!("write {}: {e}", signal.display()));
        give_to_postgres(&signal);
        self.launch();
        assert_eq!(self.psql("select pg_is_in_recovery()"), "t");
    }

    /// Promotes a standby to primary (`pg_ctl promote`, waiting until it is done).
    pub fn promote(&self) {
        let mut cmd = server_command(&pg_bin("pg_ctl"), &self.root);
        cmd.arg("promote")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "30"]);
        run_checked(cmd, "pg_ctl promote");
        assert_eq!(self.psql("select pg_is_in_recovery()"), "f");
    }

    /// Stops the server (fast shutdown) and waits for it to exit.
    /// Does nothing when it is not running.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let mut cmd = server_command(&pg_bin("pg_ctl"), &self.root);
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "30"]);
        let stopped = cmd.output().map(|o| o.status.success()).unwrap_or(false);
        if !stopped {
            self.kill_immediately();
        }
        self.running = false;
    }

    /// Immediate shutdown, ignoring errors.
    fn kill_immediately(&mut self) {
        if self.data_dir.join("postmaster.pid").exists() {
            if let Some(pg_ctl) = bindir_candidates()
                .iter()
                .map(|d| d.join("pg_ctl"))
                .find(|p| is_executable(p))
            {
                let mut cmd = server_command(&pg_ctl, &self.root);
                cmd.arg("stop")
                    .arg("-D")
                    .arg(&self.data_dir)
                    .args(["-m", "immediate", "-w", "-t", "30"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                let _ = cmd.status();
            }
        }
        self.running = false;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- PostgreSQL log (port {}, {}) ---\n{}",
                self.port,
                self.log_path.display(),
                tail(&self.log_contents(), 60)
            );
        }
        self.kill_immediately();
        if let Some(tmp) = self.tmp.take() {
            if std::env::var_os("SLUICE_KEEP_PG_DIR").is_some() {
                let path = tmp.keep();
                eprintln!("keeping PostgreSQL directory {}", path.display());
            } else {
                drop(tmp);
            }
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sends a StartupMessage for `user` and returns the code of the
/// AuthenticationRequest the server answers with (`None` for any other
/// message). The connection is closed without authenticating.
fn probe_auth_request(port: u16, user: &str) -> io::Result<Option<i32>> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;

    let mut body = Vec::new();
    body.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
    for (key, value) in [("user", user), ("database", "postgres")] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    stream.write_all(&message)?;

    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if header[0] != b'R' || len < 8 {
        return Ok(None);
    }
    let mut code = [0u8; 4];
    stream.read_exact(&mut code)?;
    Ok(Some(i32::from_be_bytes(code)))
}

// ---------------------------------------------------------------------------
// tokio-postgres helpers
// ---------------------------------------------------------------------------

/// Connects with tokio-postgres (no TLS) and drives the connection on a
/// spawned task.
pub async fn try_connect(conninfo: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Like [`try_connect`], panicking on failure.
pub async fn connect(conninfo: &str) -> tokio_postgres::Client {
    try_connect(conninfo)
        .await
        .unwrap_or_else(|e| panic!("cannot connect with {conninfo:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(conninfo_value("plain"), "plain");
        assert_eq!(conninfo_value("a b'c\\"), "'a b\\'c\\\\'");
        assert_eq!(conninfo_value(""), "''");
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn server_handles_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PgServer>();
        assert_send_sync::<TlsFiles>();
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
