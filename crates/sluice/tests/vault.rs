//! Server credentials from a real OpenBao (Vault API): static roles rotated under load,
//! a manual rotation between two fetches, dynamic roles whose leases are renewed and
//! whose server connections retire before the lease ends, and an outage of Vault.
//!
//! The clients only ever hold their sluice identity; the database password lives in
//! OpenBao and in sluice's memory.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use test_support::sluice::SluiceVault;
use test_support::{pg_bin, PgServer};

const MOUNT: &str = "database";
const CONNECTION: &str = "pg";

/// A PostgreSQL with the application role, and an OpenBao managing it.
struct Setup {
    pg: PgServer,
    bao: SluiceVault,
}

impl Setup {
    fn start() -> Setup {
        let pg = start_postgres();
        let bao = SluiceVault::start(MOUNT);
        bao.configure_postgres(MOUNT, CONNECTION, &pg, "*");
        Setup { pg, bao }
    }

    /// pgbench's tables in `appdb`, created directly as the application role while
    /// its password is still the one the test set.
    fn init_pgbench_tables(&self) {
        let out = Command::new(pg_bin("pgbench"))
            .args(["-i", "-s", "1", "-q", "-h", self.pg.host()])
            .args(["-p", &self.pg.port().to_string(), "-U", DB_USER, "appdb"])
            .env("PGPASSWORD", DB_PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pgbench -i: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Options for a route served by static role `role`, with short-lived server
/// connections so that new ones are opened all the time.
fn static_role_options(vault_section: String, role: &str) -> SluiceOptions {
    SluiceOptions {
        pool_size: 4,
        extra_sections: vault_section,
        credentials: Some(format!("{{ vault_static_role = \"{role}\" }}")),
        extra_database: "server_lifetime = \"2s\"\nserver_lifetime_jitter = \"1s\"\n".into(),
        ..Default::default()
    }
}

/// Runs pgbench select-only through sluice; returns (transactions, failed, output).
fn pgbench_select(sluice: &Sluice, args: &[&str]) -> (u64, u64, String) {
    let args: Vec<&str> = ["-n", "-S"].iter().chain(args).copied().collect();
    let text = pgbench(sluice, &args);
    let (done, failed) = processed(&text);
    (done, failed, text)
}

/// Two pgbench runs at once for `seconds`: steady clients, and clients that open a new
/// connection per transaction. Returns the total of transactions; asserts none failed.
fn load(sluice: &Sluice, seconds: u64) -> u64 {
    let t = seconds.to_string();
    thread::scope(|s| {
        let steady = s.spawn(|| pgbench_select(sluice, &["-c", "4", "-j", "2", "-T", &t]));
        let reconnecting = s.spawn(|| pgbench_select(sluice, &["-C", "-c", "2", "-T", &t]));
        let mut total = 0;
        for run in [steady, reconnecting] {
            let (done, failed, text) = run.join().unwrap();
            assert_eq!(failed, 0, "failed transactions:\n{text}");
            assert!(done > 0, "{text}");
            total += done;
        }
        total
    })
}

/// Generations (or usernames) of the "server connection opened with new credentials"
/// log lines: one per new password or lease that reached a server connection.
fn new_credential_lines(sluice: &Sluice, field: &str) -> BTreeSet<String> {
    sluice
        .log()
        .lines()
        .filter(|l| l.contains("server connection opened with new credentials"))
        .filter_map(|l| {
            let start = l.find(&format!("{field}="))? + field.len() + 1;
            Some(l[start..].split_whitespace().next()?.to_owned())
        })
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(200));
    }
}

async fn current_user(c: &tokio_postgres::Client) -> String {
    c.query_one("select current_user::text", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_query_as_the_vault_managed_user_with_token_or_approle_login() {
    let setup = Setup::start();
    setup
        .bao
        .create_static_role(MOUNT, "app", CONNECTION, DB_USER, Duration::from_secs(3600));
    let vault_password = setup.bao.static_creds(MOUNT, "app").password;
    // OpenBao took the role over: the password the test created it with is gone.
    let direct = try_connect(&setup.pg.connection_string(DB_USER, DB_PASSWORD, "appdb")).await;
    assert!(direct.is_err(), "the old password still works");

    for login in [setup.bao.token_section(), setup.bao.approle_section()] {
        let sluice = Sluice::start(&setup.pg, static_role_options(login.clone(), "app"));
        let c = sluice.connect().await;
        assert_eq!(current_user(&c).await, DB_USER);
        let sum: i64 = c
            .query_one("select sum(x)::int8 from generate_series(1, 100) x", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(sum, 5050);
        assert!(sluice.metric("sluice_vault_logins_total", "").unwrap() >= 1.0);
        let fetches = sluice.metric(
            "sluice_credential_fetches_total",
            "source=\"static:database/app\"",
        );
        assert!(fetches.unwrap() >= 1.0, "{login}");
        assert_eq!(sluice.metric("sluice_vault_up", ""), Some(1.0));
        let (code, ready) = sluice.admin_get("/readyz");
        assert_eq!(code, 200, "{ready}");
        // The password reaches neither the log, the metrics nor the admin answers.
        let (_, metrics) = sluice.admin_get("/metrics");
        for text in [sluice.log(), metrics, ready] {
            assert!(!text.contains(&vault_password));
        }
        drop(c);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_under_load_cost_no_transaction() {
    let setup = Setup::start();
    setup.init_pgbench_tables();
    setup
        .bao
        .create_static_role(MOUNT, "app", CONNECTION, DB_USER, Duration::from_secs(10));
    let first = setup.bao.static_creds(MOUNT, "app");
    let sluice = Sluice::start(
        &setup.pg,
        static_role_options(setup.bao.token_section(), "app"),
    );

    // SLUICE_VAULT_LOAD_SECONDS lengthens the run (e.g. 300 for about 30 rotations).
    let seconds = std::env::var("SLUICE_VAULT_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45);
    let transactions = load(&sluice, seconds);

    let source = "source=\"static:database/app\"";
    let rotations = sluice
        .metric("sluice_credential_rotations_total", source)
        .unwrap_or(0.0);
    assert!(
        rotations >= 3.0,
        "only {rotations} rotations seen in {transactions} transactions"
    );
    // Server connections were opened with each new password, not only the last one.
    let generations = new_credential_lines(&sluice, "generation");
    assert!(
        generations.len() >= 3,
        "new server connections used only generations {generations:?}"
    );
    let newest = sluice
        .metric("sluice_server_credentials_generation", "")
        .unwrap();
    assert!(newest >= rotations, "generation gauge {newest}");
    let last = setup.bao.static_creds(MOUNT, "app");
    assert_ne!(first.password, last.password);
    assert!(!sluice.log().contains(&last.password));
    eprintln!(
        "{seconds} s: {transactions} transactions, {rotations} rotations seen, \
         {} credential generations on new server connections, 0 failed",
        generations.len() + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_rotation_between_fetches_costs_one_retry_and_no_query() {
    let setup = Setup::start();
    setup
        .bao
        .create_static_role(MOUNT, "app", CONNECTION, DB_USER, Duration::from_secs(3600));
    let sluice = Sluice::start(
        &setup.pg,
        SluiceOptions {
            pool_size: 2,
            extra_sections: setup.bao.token_section(),
            credentials: Some("{ vault_static_role = \"app\" }".into()),
            ..Default::default()
        },
    );
    // The first client holds the only server connection in an open transaction.
    let first = sluice.connect().await;
    first.batch_execute("begin").await.unwrap();
    assert_eq!(current_user(&first).await, DB_USER);
    assert_eq!(server_connections(&setup.pg), 1);

    setup.bao.rotate_role(MOUNT, "app");

    // The second client needs a new server connection: the cached password is refused,
    // sluice fetches the new one and retries, and the client sees nothing of it.
    let second = sluice.connect().await;
    assert_eq!(current_user(&second).await, DB_USER);
    assert_eq!(
        sluice.metric("sluice_server_auth_failures_total", "pool=\"appdb\""),
        Some(1.0)
    );
    assert!(sluice
        .log()
        .contains("server refused credentials; fetching them again"));
    assert_eq!(
        sluice.metric(
            "sluice_credential_rotations_total",
            "source=\"static:database/app\""
        ),
        Some(1.0)
    );
    // The session opened before the rotation keeps working.
    assert_eq!(current_user(&first).await, DB_USER);
    first.batch_execute("commit").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_role_leases_are_renewed_retired_and_revoked() {
    let setup = Setup::start();
    setup.init_pgbench_tables();
    setup.bao.create_dynamic_role(
        MOUNT,
        "dyn",
        CONNECTION,
        Duration::from_secs(6),
        Duration::from_secs(12),
        &format!("GRANT {DB_USER} TO \"{{{{name}}}}\";"),
    );
    let mut sluice = Sluice::start(
        &setup.pg,
        SluiceOptions {
            pool_size: 4,
            extra_sections: setup.bao.token_section(),
            credentials: Some("{ vault_dynamic_role = \"dyn\" }".into()),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    let user = current_user(&c).await;
    assert!(user.starts_with("v-"), "{user} is not a generated user");
    drop(c);

    let transactions = load(&sluice, 30);

    let source = "source=\"dynamic:database/dyn\"";
    let renewals = sluice.metric("sluice_credential_lease_renewals_total", source);
    assert!(renewals.unwrap_or(0.0) >= 1.0, "no lease renewed");
    let retired = sluice.metric("sluice_server_connections_retired_total", "");
    assert!(
        retired.unwrap_or(0.0) >= 1.0,
        "no server connection retired"
    );
    // Users after the first one: at least three lease generations served connections.
    let users = new_credential_lines(&sluice, "username");
    assert!(
        users.len() >= 2,
        "server connections used only the later users {users:?}"
    );
    // No server connection outlived its lease: every generated user still connected
    // has a live lease.
    let connected = setup.pg.psql(
        "select count(*) from pg_stat_activity a where a.usename like 'v-%' \
         and not exists (select from pg_roles r where r.rolname = a.usename)",
    );
    assert_eq!(connected, "0", "sessions of dropped users remain");
    assert!(setup.bao.lease_count("database/creds/dyn") >= 1);

    // On shutdown sluice revokes the leases it holds.
    sluice.signal("TERM");
    assert_eq!(sluice.wait_exit(Duration::from_secs(20)), Some(true));
    assert_eq!(setup.bao.lease_count("database/creds/dyn"), 0);
    eprintln!(
        "{transactions} transactions over {} generated users, 0 failed",
        users.len() + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_vault_costs_no_transaction_and_shows_in_readyz_and_metrics() {
    let setup = Setup::start();
    setup.init_pgbench_tables();
    setup
        .bao
        .create_static_role(MOUNT, "app", CONNECTION, DB_USER, Duration::from_secs(10));
    let sluice = Sluice::start(
        &setup.pg,
        static_role_options(setup.bao.token_section(), "app"),
    );
    wait_for("the first fetch", Duration::from_secs(10), || {
        sluice.metric("sluice_vault_up", "") == Some(1.0)
    });

    let transactions = thread::scope(|s| {
        let running = s.spawn(|| load(&sluice, 30));
        thread::sleep(Duration::from_secs(3));
        setup.bao.pause();
        // The next scheduled fetch (within the 10 s rotation period) hangs and fails.
        wait_for("the failure in /readyz", Duration::from_secs(20), || {
            let (code, body) = sluice.admin_get("/readyz");
            assert_eq!(code, 200, "cached credentials still serve: {body}");
            body.contains("failing")
        });
        assert_eq!(sluice.metric("sluice_vault_up", ""), Some(0.0));
        let failures = sluice.metric(
            "sluice_credential_fetch_failures_total",
            "source=\"static:database/app\"",
        );
        assert!(failures.unwrap_or(0.0) >= 1.0);
        thread::sleep(Duration::from_secs(5));
        setup.bao.resume();
        running.join().unwrap()
    });

    wait_for("recovery", Duration::from_secs(45), || {
        let (code, body) = sluice.admin_get("/readyz");
        code == 200 && !body.contains("failing")
    });
    assert_eq!(sluice.metric("sluice_vault_up", ""), Some(1.0));
    // After the outage a new connection gets the password OpenBao rotated to since.
    let c = sluice.connect().await;
    assert_eq!(current_user(&c).await, DB_USER);
    assert!(sluice.log().contains("Vault answers again"));
    eprintln!("{transactions} transactions across the outage, 0 failed");
}
