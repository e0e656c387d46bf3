//! sluice → PostgreSQL: TLS modes, authentication methods, primary detection, and TLS
//! towards clients.

mod common;

use std::process::Command;

use common::*;
use test_support::{pg_bin, AuthMethod, PgOptions, PgServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_and_cleartext_server_authentication() {
    let pg = start_postgres();
    pg.create_user("md5_user", "md5-pw", AuthMethod::Md5);
    pg.create_user("clear_user", "clear-pw", AuthMethod::Cleartext);
    for (user, pw) in [("md5_user", "md5-pw"), ("clear_user", "clear-pw")] {
        let sluice = Sluice::start(
            &pg,
            SluiceOptions {
                db_user: user.into(),
                db_password: pw.into(),
                databases: vec![("appdb", "postgres")],
                ..Default::default()
            },
        );
        let c = sluice.connect().await;
        let who: String = c
            .query_one("select current_user::text", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(who, user);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_server_password_is_an_error_naming_the_pool_without_the_secret() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            db_password: "not-the-password".into(),
            ..Default::default()
        },
    );
    let err = try_connect(&sluice.app_conn_str()).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    let msg = err.as_db_error().unwrap().message().to_owned();
    assert!(msg.contains("\"appdb\""), "{msg}");
    assert!(msg.contains("password authentication failed"), "{msg}");
    assert!(!msg.contains("not-the-password"));
    assert!(!sluice.log().contains("not-the-password"));
    // The credentials file is fixed: the next connection fetches it again and works.
    std::fs::write(sluice.dir().join("db-password"), DB_PASSWORD).unwrap();
    let c = sluice.connect().await;
    assert_eq!(
        c.query_one("select 1", &[]).await.unwrap().get::<_, i32>(0),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_tls_verify_full_and_require() {
    let pg = PgServer::start_with(PgOptions {
        tls: true,
        ..Default::default()
    });
    pg.create_user(DB_USER, DB_PASSWORD, AuthMethod::Scram);
    pg.create_database("appdb", DB_USER);
    let ca = pg.tls_files().unwrap().ca_cert.display().to_string();
    for (mode, cluster) in [
        ("verify-full", format!("tls_ca_file = \"{ca}\"")),
        ("require", String::new()),
    ] {
        let sluice = Sluice::start(
            &pg,
            SluiceOptions {
                tls_mode: mode,
                extra_cluster: cluster,
                ..Default::default()
            },
        );
        let c = sluice.connect().await;
        let ssl: bool = c
            .query_one(
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(ssl, "{mode}: server connection is not encrypted");
    }
    // verify-full with a CA that did not sign the server's certificate fails.
    let other = test_support::make_tls_files(&["localhost"]);
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            tls_mode: "verify-full",
            extra_cluster: format!("tls_ca_file = \"{}\"", other.ca_cert.display()),
            ..Default::default()
        },
    );
    let err = try_connect(&sluice.app_conn_str()).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
}

#[test]
fn client_tls_with_psql_verify_full() {
    let pg = start_postgres();
    let files = test_support::make_tls_files(&["localhost"]);
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            extra_postgres: format!(
                "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
                files.server_cert.display(),
                files.server_key.display()
            ),
            ..Default::default()
        },
    );
    let out = Command::new(pg_bin("psql"))
        .args(["-X", "-A", "-t", "-c", "select 1"])
        .arg(format!(
            "host=localhost port={} user={APP_USER} dbname=appdb sslmode=verify-full sslrootcert={}",
            sluice.port,
            files.ca_cert.display()
        ))
        .env("PGPASSWORD", APP_PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    // Without TLS configured, sslmode=require is refused cleanly by the client.
    let plain = Sluice::start(&pg, SluiceOptions::default());
    let out = Command::new(pg_bin("psql"))
        .args(["-X", "-c", "select 1"])
        .arg(format!(
            "host=127.0.0.1 port={} user={APP_USER} dbname=appdb sslmode=require",
            plain.port
        ))
        .env("PGPASSWORD", APP_PASSWORD)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not support SSL"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_client_authentication_by_rule() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            hba: Some(format!(
                "host appdb {APP_USER} 127.0.0.1/32 md5\nhost all blocked all reject\n"
            )),
            users: format!(
                "[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n[users.blocked]\npassword = \"b\"\n"
            ),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    assert_eq!(
        c.query_one("select 1", &[]).await.unwrap().get::<_, i32>(0),
        1
    );
    let err = try_connect(&sluice.conn_str("blocked", "b", "appdb"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "28000", "{err}");
    let err = try_connect(&sluice.conn_str(APP_USER, "bad", "appdb"))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "28P01", "{err}");
}

/// The port of the server a sluice session runs on.
async fn server_port(c: &tokio_postgres::Client) -> Result<u16, tokio_postgres::Error> {
    let row = c
        .query_one("select current_setting('port')::int4", &[])
        .await?;
    Ok(row.get::<_, i32>(0) as u16)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_primary_serves_and_a_promoted_standby_takes_over() {
    let mut primary = start_postgres();
    let mut standby = start_postgres();
    standby.restart_as_standby();
    // The standby is listed first: sluice asks each member and skips it.
    let sluice = Sluice::start(
        &primary,
        SluiceOptions {
            hosts: Some(vec![standby.port(), primary.port()]),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    let in_recovery: bool = c
        .query_one("select pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!in_recovery);
    assert_eq!(server_port(&c).await.unwrap(), primary.port());
    assert_eq!(sluice.admin_get("/readyz").0, 200);
    drop(c);

    // Failover: the primary goes away and the standby is promoted.
    primary.stop();
    standby.promote();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let served = match try_connect(&sluice.app_conn_str()).await {
            Ok(c) => server_port(&c).await.ok(),
            Err(_) => None,
        };
        if served == Some(standby.port()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "new sessions never reached the promoted standby (last: {served:?})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let c = sluice.connect().await;
    c.batch_execute("create table after_failover(x int); insert into after_failover values (1)")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_standbys_shows_as_a_route_problem_and_says_why() {
    let mut standby = start_postgres();
    standby.restart_as_standby();
    let sluice = Sluice::start(&standby, SluiceOptions::default());
    let err = match try_connect(&sluice.app_conn_str()).await {
        Ok(c) => c.query_one("select 1", &[]).await.unwrap_err(),
        Err(e) => e,
    };
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_else(|| err.to_string());
    assert!(msg.contains("primary"), "{msg}");
    // The replica stays ready (the problem is the route's, shared by every replica),
    // and says why the route cannot serve.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (code, body) = sluice.admin_get("/readyz");
        assert_eq!(code, 200, "{body}");
        let (_, routes) = sluice.admin_get("/routes");
        if body.contains("no primary reachable") && routes.contains("\"ready\":false") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "route still ready: {routes}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn idle_server_connections_ended_by_the_server_cost_no_query() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 2,
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    c.simple_query("select 1").await.unwrap();
    // The server ends every idle pooled connection (as a restart or failover would).
    let ended = pg.psql(&format!(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity where usename = '{DB_USER}'"
    ));
    assert_ne!(ended.trim(), "0", "no server connection was ended");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for _ in 0..3 {
        c.simple_query("select 1").await.unwrap_or_else(|e| {
            panic!("a query failed after the server ended idle connections: {e}")
        });
    }
    assert!(sluice
        .log()
        .contains("idle server connection was closed by the server"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_without_tls_sends_no_md5_or_cleartext_password_unless_allowed() {
    // A server without TLS that asks for md5 or cleartext.
    let pg = start_postgres();
    pg.create_user("md5_user", "md5-pw", AuthMethod::Md5);
    pg.create_user("clear_user", "clear-pw", AuthMethod::Cleartext);
    for (user, pw) in [("md5_user", "md5-pw"), ("clear_user", "clear-pw")] {
        let options = |extra_cluster: &str| SluiceOptions {
            db_user: user.into(),
            db_password: pw.into(),
            databases: vec![("appdb", "postgres")],
            tls_mode: "prefer",
            extra_cluster: extra_cluster.into(),
            ..Default::default()
        };
        let refused = Sluice::start(&pg, options(""));
        let err = try_connect(&refused.app_conn_str()).await.unwrap_err();
        let msg = err.as_db_error().unwrap().message().to_owned();
        assert!(msg.contains("allow_plaintext_password"), "{user}: {msg}");
        assert!(!refused.log().contains(pw));
        // The operator's explicit choice.
        let allowed = Sluice::start(&pg, options("allow_plaintext_password = true"));
        let c = allowed.connect().await;
        let who: String = c
            .query_one("select current_user::text", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(who, user);
    }
}

/// A primary, a standby (not replicating: the tests need none of its data), and a
/// sluice with both, the primary first.
fn primary_and_standby(extra_cluster: &str) -> (PgServer, PgServer, Sluice) {
    let primary = start_postgres();
    let mut standby = start_postgres();
    standby.restart_as_standby();
    let sluice = Sluice::start(
        &primary,
        SluiceOptions {
            hosts: Some(vec![primary.port(), standby.port()]),
            extra_cluster: extra_cluster.to_owned(),
            ..Default::default()
        },
    );
    (primary, standby, sluice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_between_transactions_is_held_through_a_switchover() {
    let (mut primary, standby, sluice) = primary_and_standby("failover_timeout = \"20s\"");
    let c = sluice.connect().await;
    assert_eq!(server_port(&c).await.unwrap(), primary.port());
    // Between transactions the client holds no server connection; the primary stops
    // and its idle pooled connections die with it.
    primary.stop();
    let started = std::time::Instant::now();
    let query = tokio::spawn(async move {
        let port = server_port(&c).await;
        (port, c)
    });
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(!query.is_finished(), "the query did not wait for a primary");
    standby.promote();
    let (port, c) = query.await.unwrap();
    let held = started.elapsed();
    assert_eq!(
        port.unwrap(),
        standby.port(),
        "served by the promoted standby"
    );
    assert!(held >= std::time::Duration::from_secs(1));
    // The session goes on.
    c.batch_execute("create table after_hold(x int)")
        .await
        .unwrap();
    assert_eq!(
        sluice.metric("sluice_clients_held_total", "outcome=\"served\""),
        Some(1.0)
    );
    assert!(
        sluice
            .metric("sluice_client_hold_seconds_count", "")
            .unwrap()
            >= 1.0
    );
    assert_eq!(
        sluice.metric("sluice_cluster_switchovers_total", "cluster=\"main\""),
        Some(1.0)
    );
    let member = |port: u16| format!("member=\"127.0.0.1:{port}\"");
    assert_eq!(
        sluice.metric("sluice_cluster_primary", &member(standby.port())),
        Some(1.0)
    );
    assert_eq!(
        sluice.metric("sluice_cluster_primary", &member(primary.port())),
        Some(0.0)
    );
    eprintln!("held for {held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_ends_with_an_error_after_failover_timeout() {
    let mut primary = start_postgres();
    let sluice = Sluice::start(
        &primary,
        SluiceOptions {
            extra_cluster: "failover_timeout = \"1s\"".into(),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    c.simple_query("select 1").await.unwrap();
    primary.stop();
    let started = std::time::Instant::now();
    let err = c.simple_query("select 1").await.unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    let message = err
        .as_db_error()
        .map(|e| format!("{} {}", e.code().code(), e.message()))
        .unwrap_or_else(|| err.to_string());
    assert!(message.contains("08006"), "{message}");
    assert_eq!(
        sluice.metric("sluice_clients_held_total", "outcome=\"timed_out\""),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_transaction_lost_its_server_keeps_its_session() {
    let (mut primary, standby, sluice) = primary_and_standby("");
    let committing = sluice.connect().await;
    let rolling_back = sluice.connect().await;
    for c in [&committing, &rolling_back] {
        c.batch_execute("begin; select 1").await.unwrap();
    }
    primary.stop();
    standby.promote();
    // COMMIT of a transaction whose work is gone fails, and the session goes on.
    let err = committing.simple_query("commit").await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    assert_eq!(server_port(&committing).await.unwrap(), standby.port());
    // Any other request fails the transaction, as in a failed transaction, until the
    // client rolls back.
    let err = rolling_back.simple_query("select 1").await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    let err = rolling_back.simple_query("select 2").await.unwrap_err();
    assert_eq!(sqlstate(&err), "25P02", "{err}");
    let err = rolling_back
        .query("select $1::int", &[&3i32])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "25P02", "{err}");
    rolling_back.simple_query("rollback").await.unwrap();
    assert_eq!(server_port(&rolling_back).await.unwrap(), standby.port());
    rolling_back
        .batch_execute("begin; create table after_loss(x int); commit")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_transaction_ends_with_a_prepared_rollback_and_fails_a_late_commit() {
    let (mut primary, standby, sluice) = primary_and_standby("");
    let closing = sluice.connect().await;
    let prepared = sluice.connect().await;
    let extended = sluice.connect().await;
    for c in [&closing, &prepared, &extended] {
        c.batch_execute("begin; select 1").await.unwrap();
    }
    let statement = closing.prepare("select 1").await.unwrap();
    let rollback = prepared.prepare("rollback").await.unwrap();
    primary.stop();
    standby.promote();

    // The driver closes a statement (Close, Sync) just ahead of COMMIT: the Close
    // succeeds as in a failed transaction, and COMMIT still hears that the work is
    // gone.
    drop(statement);
    let err = closing.batch_execute("commit").await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    assert_eq!(server_port(&closing).await.unwrap(), standby.port());

    // A ROLLBACK prepared before the loss ends the lost transaction.
    prepared.execute(&rollback, &[]).await.unwrap();
    assert_eq!(server_port(&prepared).await.unwrap(), standby.port());

    // After the error, a ROLLBACK through Parse, Bind and Execute ends it too.
    let err = extended
        .query("select $1::int", &[&1i32])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    let err = extended.execute("select 2", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "25P02", "{err}");
    extended.execute("rollback", &[]).await.unwrap();
    extended
        .batch_execute("begin; create table after_loss(x int); commit")
        .await
        .unwrap();
    assert_eq!(server_port(&extended).await.unwrap(), standby.port());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_when_the_primary_stops_go_on_or_fail_without_ending_the_session() {
    let (mut primary, standby, sluice) = primary_and_standby("failover_timeout = \"20s\"");
    let simple = sluice.connect().await;
    let extended = sluice.connect().await;
    let inside = sluice.connect().await;
    inside.batch_execute("begin; select 1").await.unwrap();
    let sleep = "select pg_sleep(2)";
    let simple = tokio::spawn(async move { (simple.simple_query(sleep).await.map(drop), simple) });
    let extended =
        tokio::spawn(async move { (extended.query(sleep, &[]).await.map(drop), extended) });
    let inside = tokio::spawn(async move { (inside.simple_query(sleep).await.map(drop), inside) });
    // All three run on the primary before it stops.
    let running = "select count(*) from pg_stat_activity \
                   where query = 'select pg_sleep(2)' and state = 'active'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while primary.psql(running) != "3" {
        assert!(
            std::time::Instant::now() < deadline,
            "the queries never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A fast stop ends every backend with FATAL admin_shutdown, the sleeping ones too.
    primary.stop();
    standby.promote();

    // Between transactions, a request the server ended before it ran goes to the new
    // primary: the client sees no error.
    for task in [simple, extended] {
        let (outcome, c) = task.await.unwrap();
        outcome.expect("a request between transactions is sent to the new primary");
        assert_eq!(server_port(&c).await.unwrap(), standby.port());
    }
    // Inside a transaction: one error, then ROLLBACK succeeds and the session goes on.
    let (outcome, c) = inside.await.unwrap();
    let err = outcome.unwrap_err();
    assert_eq!(sqlstate(&err), "08006", "{err}");
    c.batch_execute("rollback").await.unwrap();
    assert_eq!(server_port(&c).await.unwrap(), standby.port());
    assert!(
        sluice
            .metric("sluice_server_connections_lost_total", "")
            .unwrap_or(0.0)
            >= 3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_server_connection_an_administrator_terminated_is_not_run_again() {
    let pg = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let c = sluice.connect().await;
    let sleeping = tokio::spawn(async move { c.simple_query("select pg_sleep(30)").await });
    let terminated = "select count(pg_terminate_backend(pid)) from pg_stat_activity \
                      where query = 'select pg_sleep(30)'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pg.psql(terminated) != "1" {
        assert!(std::time::Instant::now() < deadline, "the query never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The server goes on, so this was not a switchover: the client hears of it as a
    // direct client would, and the query does not run again.
    let err = sleeping.await.unwrap().unwrap_err();
    assert_eq!(sqlstate(&err), "57P01", "{err}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        pg.psql("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)'"),
        "0"
    );
}
