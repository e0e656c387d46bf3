//! Operations: the admin endpoints, config checking, reload on SIGHUP, drain on SIGTERM,
//! timeouts and server lifetime.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_readiness() {
    let mut pg = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let c = sluice.connect().await;
    for _ in 0..5 {
        c.query_one("select 1", &[]).await.unwrap();
    }
    assert_eq!(sluice.admin_get("/healthz").0, 200);
    let (code, _) = sluice.admin_get("/readyz");
    assert_eq!(code, 200);
    let (code, body) = sluice.admin_get("/metrics");
    assert_eq!(code, 200);
    for name in [
        "sluice_transactions_total",
        "sluice_queries_total",
        "sluice_client_bytes_received_total",
        "sluice_checkout_wait_seconds_bucket",
        "sluice_pool_servers",
        "sluice_pool_clients_waiting",
        "sluice_clients",
    ] {
        assert!(body.contains(name), "missing {name} in:\n{body}");
    }
    let tx_line = body
        .lines()
        .find(|l| l.starts_with("sluice_transactions_total") && l.contains("pool=\"appdb\""))
        .unwrap();
    let n: f64 = tx_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 5.0, "{tx_line}");
    assert!(!body.contains(DB_PASSWORD) && !sluice.log().contains(DB_PASSWORD));
    assert!(!sluice.log().contains(APP_PASSWORD));

    // The database goes away: the route's health follows within the probe interval,
    // and the replica stays ready (every replica shares the problem).
    drop(c);
    pg.stop();
    let mut unready = false;
    for _ in 0..60 {
        let (_, routes) = sluice.admin_get("/routes");
        let routes: serde_json::Value = serde_json::from_str(&routes).unwrap();
        let appdb = &routes["routes"][0];
        assert_eq!(appdb["route"], "appdb", "{routes}");
        if appdb["ready"] == false {
            let problems = appdb["problems"].to_string();
            assert!(problems.contains("no primary reachable"), "{routes}");
            unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(unready, "/routes kept the route ready without a database");
    let (code, body) = sluice.admin_get("/readyz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("appdb: no primary reachable"), "{body}");
    assert_eq!(
        sluice.metric("sluice_route_ready", "pool=\"appdb\""),
        Some(0.0)
    );
}

#[test]
fn check_reports_problems_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[postgres]\nusers_file = \"missing.toml\"\n[postgres.clusters.main]\nhosts = [\"db\"]\n\
         [postgres.databases.app]\ncluster = \"main\"\npool_size = 0\n\
         credentials = { username = \"u\", password_file = \"pw\" }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for loc in [
        "postgres.users_file",
        "postgres.clusters.main.hosts",
        "postgres.databases.app.pool_size",
        "postgres.databases.app.credentials.password_file",
    ] {
        assert!(err.contains(loc), "missing {loc} in:\n{err}");
    }
    // The shipped example is valid.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/sluice.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "example config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sluice check` warns, without failing, when the replicas' pools can open more
/// server connections than a cluster accepts, or when stopping takes longer than the
/// pod's termination grace.
#[test]
fn check_warns_when_the_deployment_cannot_hold_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(
        &path,
        "[admin]\nshutdown_grace = \"30s\"\n[postgres]\nusers_file = \"users.toml\"\n\
         [postgres.clusters.main]\nhosts = [\"db:5432\"]\nserver_max_connections = 100\n\
         [postgres.databases.app]\ncluster = \"main\"\npool_size = 40\n\
         credentials = { username = \"u\", password_file = \"users.toml\" }\n",
    )
    .unwrap();
    let check = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["check", "--config"])
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // 2 × (40 + 1) = 82 fits; 3 × 41 = 123 does not.
    assert_eq!(check(&["--replicas", "2"]), "");
    let warning = check(&["--replicas", "3"]);
    for part in ["postgres.clusters.main", "40", "123", "100"] {
        assert!(warning.contains(part), "{part} missing in {warning}");
    }
    // 5 + 30 + 2 = 37 s.
    assert_eq!(
        check(&["--pre-stop", "5", "--termination-grace-period", "40"]),
        ""
    );
    let warning = check(&["--pre-stop", "5", "--termination-grace-period", "30"]);
    assert!(
        warning.contains("37s") && warning.contains("30s"),
        "{warning}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_users_and_pool_size_without_dropping_clients() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 1,
            ..Default::default()
        },
    );
    let existing = sluice.connect().await;
    existing.batch_execute("begin; select 1").await.unwrap();
    assert!(try_connect(&sluice.conn_str("newuser", "newpw", "appdb"))
        .await
        .is_err());
    // New user, larger pool.
    std::fs::write(
        sluice.dir().join("users.toml"),
        format!("[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n[users.newuser]\npassword = \"newpw\"\n"),
    )
    .unwrap();
    let cfg = std::fs::read_to_string(&sluice.config_path).unwrap();
    std::fs::write(
        &sluice.config_path,
        cfg.replace("pool_size = 1", "pool_size = 3"),
    )
    .unwrap();
    sluice.signal("HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let newcomer = connect(&sluice.conn_str("newuser", "newpw", "appdb")).await;
    // With pool size 1 this would wait behind the open transaction and time out.
    let v: i32 = tokio::time::timeout(Duration::from_secs(5), newcomer.query_one("select 11", &[]))
        .await
        .expect("pool did not grow")
        .unwrap()
        .get(0);
    assert_eq!(v, 11);
    existing.batch_execute("commit").await.unwrap();
    assert_eq!(
        existing
            .query_one("select 2", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        2
    );
}

/// A mounted ConfigMap or Secret changes without a signal: a changed users file is
/// picked up by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_users_file_is_reloaded_without_a_signal() {
    let pg = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let existing = sluice.connect().await;
    existing.batch_execute("begin; select 1").await.unwrap();
    let newcomer = sluice.conn_str("newuser", "newpw", "appdb");
    assert!(try_connect(&newcomer).await.is_err());
    std::fs::write(
        sluice.dir().join("users.toml"),
        format!("[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n[users.newuser]\npassword = \"newpw\"\n"),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let client = loop {
        if let Ok(c) = try_connect(&newcomer).await {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new user was not accepted: {}",
            sluice.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let v: i32 = client.query_one("select 12", &[]).await.unwrap().get(0);
    assert_eq!(v, 12);
    assert!(sluice.log().contains("configuration files changed"));
    existing.batch_execute("commit").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_transactions_finish() {
    let pg = start_postgres();
    let mut sluice = Sluice::start(&pg, SluiceOptions::default());
    let busy = sluice.connect().await;
    let idle = sluice.connect().await;
    busy.batch_execute("create table d(x int)").await.unwrap();
    busy.batch_execute("begin; insert into d values (1)")
        .await
        .unwrap();
    sluice.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New clients are refused, the idle one is told to go with 57P01...
    assert!(try_connect(&sluice.app_conn_str()).await.is_err());
    let err = idle.query_one("select 1", &[]).await.unwrap_err();
    assert!(err.code().is_none() || sqlstate(&err) == "57P01", "{err}");
    // ...and the running transaction can still commit.
    busy.batch_execute("insert into d values (2); commit")
        .await
        .unwrap();
    assert_eq!(sluice.wait_exit(Duration::from_secs(10)), Some(true));
    assert_eq!(pg.psql_db("appdb", "select count(*) from d"), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_timeout_and_server_lifetime() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 1,
            extra_database: "idle_in_transaction_timeout = \"500ms\"\nserver_lifetime = \"1s\"\nserver_lifetime_jitter = \"100ms\"".into(),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    let first: i32 = c
        .query_one("select pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second: i32 = c
        .query_one("select pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(
        first, second,
        "a server connection outlived server_lifetime"
    );

    c.batch_execute("begin").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let err = c.query_one("select 1", &[]).await.unwrap_err();
    assert!(err.code().is_none() || sqlstate(&err) == "25P03", "{err}");
    // The pool's only server was freed for others.
    let other = sluice.connect().await;
    assert_eq!(
        other
            .query_one("select 4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        4
    );
    assert!(sluice.log().contains("idle-in-transaction"));
}
