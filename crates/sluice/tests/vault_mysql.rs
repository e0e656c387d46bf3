//! MySQL server credentials from a real OpenBao (its mysql-database-plugin managing a
//! real MariaDB): static-role rotations under sysbench load and reconnecting clients,
//! a manual rotation between two fetches, and dynamic-role leases.

mod mysql_support;

use std::process::Command;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_support::*;
use test_support::sluice::SluiceVault;
use test_support::MariaDbServer;

const MOUNT: &str = "database";
const CONNECTION: &str = "mariadb";
/// A MariaDB with the application user, and an OpenBao managing it.
struct Setup {
    m: MariaDbServer,
    bao: SluiceVault,
}

impl Setup {
    fn start() -> Setup {
        let m = start_mariadb();
        let bao = SluiceVault::start(MOUNT);
        bao.configure_mysql(MOUNT, CONNECTION, &m, "*");
        Setup { m, bao }
    }

    fn sluice(&self, credentials: &str, pool_size: usize) -> MySluice {
        MySluice::start(Options {
            pool_size,
            extra_sections: self.bao.token_section(),
            credentials: Some(credentials.into()),
            extra_database: "server_lifetime = \"2s\"\nserver_lifetime_jitter = \"1s\"".into(),
            ..Options::new(vec![self.m.port()])
        })
    }
}

/// The sum of metric `name`'s samples whose labels contain `label`, 0 when none.
fn metric(s: &MySluice, name: &str, label: &str) -> f64 {
    s.metric(name, label).unwrap_or(0.0)
}

fn sysbench() -> &'static str {
    ["/usr/bin/sysbench", "/usr/local/bin/sysbench"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| panic!("sysbench is missing: install it with apt-get install sysbench (or run scripts/install-deps.sh)"))
}

fn sysbench_args(port: u16, user: &str, password: &str) -> Vec<String> {
    vec![
        "oltp_point_select".into(),
        "--db-driver=mysql".into(),
        "--mysql-host=127.0.0.1".into(),
        format!("--mysql-port={port}"),
        format!("--mysql-user={user}"),
        format!("--mysql-password={password}"),
        format!("--mysql-db={DATABASE}"),
        "--mysql-ssl=off".into(),
        "--tables=1".into(),
        "--table-size=1000".into(),
    ]
}

/// sysbench through sluice for `seconds` while another client opens a new connection
/// for every query. Returns (sysbench queries, reconnecting queries); asserts that
/// nothing failed.
async fn load(s: &MySluice, seconds: u64) -> (u64, u64) {
    let args = sysbench_args(s.rw_port, APP_USER, APP_PASSWORD);
    let bench = std::thread::spawn(move || {
        Command::new(sysbench())
            .args(&args)
            .args(["--threads=4", &format!("--time={seconds}"), "run"])
            .output()
            .unwrap()
    });
    let url = s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut reconnecting = 0;
    while Instant::now() < deadline {
        let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
            .await
            .unwrap_or_else(|e| panic!("a new client failed: {e}\n{}", s.log()));
        let n: i64 = c
            .query_first("SELECT COUNT(*) FROM sbtest1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1000);
        c.disconnect().await.unwrap();
        reconnecting += 1;
    }
    let out = bench.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| {
                l.split_whitespace()
                    .nth(if name == "queries:" { 1 } else { 2 })
            })
            .and_then(|n| n.parse::<u64>().ok())
    };
    assert_eq!(field("ignored errors:"), Some(0), "{text}");
    (field("queries:").unwrap_or(0), reconnecting)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_rotations_under_load_cost_no_query() {
    let setup = Setup::start();
    let prepare = Command::new(sysbench())
        .args(sysbench_args(setup.m.port(), DB_USER, DB_PASSWORD))
        .arg("prepare")
        .output()
        .unwrap();
    assert!(
        prepare.status.success(),
        "{}",
        String::from_utf8_lossy(&prepare.stderr)
    );
    setup
        .bao
        .create_static_role(MOUNT, "app", CONNECTION, DB_USER, Duration::from_secs(10));
    let first = setup.bao.static_creds(MOUNT, "app");
    let s = setup.sluice("{ vault_static_role = \"app\" }", 4);

    let seconds = std::env::var("SLUICE_VAULT_LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(45);
    let (queries, reconnecting) = load(&s, seconds).await;
    let rotations = metric(
        &s,
        "sluice_credential_rotations_total",
        "source=\"static:database/app\"",
    );
    assert!(rotations >= 3.0, "only {rotations} rotations seen");
    let generations = s
        .log()
        .lines()
        .filter(|l| l.contains("server connection opened with new credentials"))
        .count();
    assert!(
        generations >= 3,
        "new server connections used {generations} new passwords"
    );
    let last = setup.bao.static_creds(MOUNT, "app");
    assert_ne!(first.password, last.password);
    assert!(
        !s.log().contains(&last.password),
        "a password reached the log"
    );
    eprintln!(
        "{seconds} s: {queries} sysbench queries and {reconnecting} new-connection queries, \
         {rotations} rotations seen, {} new passwords on server connections, 0 failed",
        generations
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_mysql_rotation_costs_one_retry_and_no_query() {
    let setup = Setup::start();
    setup
        .bao
        .create_static_role(MOUNT, "app", CONNECTION, DB_USER, Duration::from_secs(3600));
    let s = MySluice::start(Options {
        pool_size: 2,
        extra_sections: setup.bao.token_section(),
        credentials: Some("{ vault_static_role = \"app\" }".into()),
        ..Options::new(vec![setup.m.port()])
    });
    // The first client holds a server connection inside a transaction.
    let mut first = s.connect().await;
    first.query_drop("START TRANSACTION").await.unwrap();
    let who: String = first
        .query_first("SELECT CURRENT_USER()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who, format!("{DB_USER}@%"));

    setup.bao.rotate_role(MOUNT, "app");

    // The next client needs a new server connection: refused with the cached password
    // (1045), sluice fetches the new one, retries, and the client sees nothing.
    let mut second = s.connect().await;
    let who: String = second
        .query_first("SELECT CURRENT_USER()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who, format!("{DB_USER}@%"));
    assert!(
        metric(
            &s,
            "sluice_server_auth_failures_total",
            "protocol=\"mysql\""
        ) >= 1.0
    );
    assert!(s
        .log()
        .contains("server refused credentials; fetching them again"));
    // The session opened before the rotation keeps working.
    let who: String = first
        .query_first("SELECT CURRENT_USER()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who, format!("{DB_USER}@%"));
    first.query_drop("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dynamic_role_leases_are_renewed_and_retired() {
    let setup = Setup::start();
    setup.m.sql(&format!(
        "CREATE TABLE {DATABASE}.kv (k INT PRIMARY KEY, v INT)"
    ));
    setup
        .m
        .sql(&format!("INSERT INTO {DATABASE}.kv VALUES (1, 10)"));
    setup.bao.create_mysql_dynamic_role(
        MOUNT,
        "dyn",
        CONNECTION,
        Duration::from_secs(6),
        Duration::from_secs(12),
        &format!("GRANT SELECT ON {DATABASE}.* TO '{{{{name}}}}'@'%';"),
    );
    let s = setup.sluice("{ vault_dynamic_role = \"dyn\" }", 3);
    let mut c = s.connect().await;
    let who: String = c
        .query_first("SELECT CURRENT_USER()")
        .await
        .unwrap()
        .unwrap();
    assert!(who.starts_with("v-"), "{who} is not a generated user");
    drop(c);
    // 30 s across several lease generations, with a new client every query; on a
    // slow machine longer, until a connection was retired (at most 60 s).
    let url = s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE);
    let started = Instant::now();
    let retired = || {
        metric(
            &s,
            "sluice_server_connections_retired_total",
            "protocol=\"mysql\"",
        )
    };
    let mut queries = 0;
    while started.elapsed() < Duration::from_secs(30)
        || (started.elapsed() < Duration::from_secs(60) && retired() < 1.0)
    {
        let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
            .await
            .unwrap_or_else(|e| panic!("a client failed: {e}\n{}", s.log()));
        let v: i64 = c
            .query_first("SELECT v FROM kv WHERE k = 1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v, 10);
        c.disconnect().await.unwrap();
        queries += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        metric(
            &s,
            "sluice_credential_lease_renewals_total",
            "dynamic:database/dyn"
        ) >= 1.0,
        "no lease renewed"
    );
    assert!(
        metric(
            &s,
            "sluice_server_connections_retired_total",
            "protocol=\"mysql\""
        ) >= 1.0,
        "no connection retired"
    );
    let users = s
        .log()
        .lines()
        .filter(|l| l.contains("server connection opened with new credentials"))
        .count();
    assert!(
        users >= 2,
        "only {users} later generated users served connections"
    );
    eprintln!(
        "{queries} queries over {} generated users, 0 failed",
        users + 1
    );
}
