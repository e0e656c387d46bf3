//! A MySQL client whose server connection goes away under it, against real MariaDB
//! servers: killed from an admin session (`KILL CONNECTION`, deterministic) or with its
//! member shut down and a replica promoted. A transaction-mode client that is not
//! pinned keeps its session: its transaction fails (every statement until it ends it),
//! `ROLLBACK` succeeds, and its next transaction runs on a new server connection with
//! the session settings sluice replays; an autocommit statement in flight fails without
//! being sent again. Pinned and session-mode clients lose their session, as with a
//! direct connection.

mod mysql_support;

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_support::{start_mariadb, MySluice, Options, DATABASE};
use test_support::MariaDbServer;

const LOST: &str = "the server connection of this transaction was lost (the database server \
     stopped or failed over); the transaction was rolled back";
const STILL_LOST: &str = "the transaction was rolled back when its server connection was lost; \
     statements fail until ROLLBACK or COMMIT ends it";

/// The session time zone of the fixture's client.
const TIME_ZONE: &str = "+03:00";

/// A MariaDB with table `items`, sluice in front of it (transaction mode), a direct admin connection to
/// the server and a client of sluice with [`TIME_ZONE`] set (a setting sluice
/// replays on every server connection).
async fn fixture() -> (
    MariaDbServer,
    MySluice,
    mysql_async::Conn,
    mysql_async::Conn,
) {
    let m = start_mariadb();
    m.sql(&format!(
        "CREATE TABLE {DATABASE}.items (id INT PRIMARY KEY)"
    ));
    let sluice = MySluice::start(Options::new(vec![m.port()]));
    let admin = admin(&m).await;
    let mut c = sluice.connect().await;
    c.query_drop(format!("SET time_zone = '{TIME_ZONE}'"))
        .await
        .unwrap();
    (m, sluice, admin, c)
}

/// A direct superuser connection to `m`, for killing sluice's server connections.
async fn admin(m: &MariaDbServer) -> mysql_async::Conn {
    let (user, password) = m.superuser();
    let url = format!("mysql://{user}:{password}@127.0.0.1:{}/", m.port());
    mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .expect("admin connection")
}

/// The server's id of the connection the client's statement runs on.
async fn server_thread(c: &mut mysql_async::Conn) -> u32 {
    c.query_first("SELECT CONNECTION_ID()")
        .await
        .expect("CONNECTION_ID()")
        .expect("a row")
}

/// Kills the server connection running a statement that starts with `sql`, once it
/// runs.
async fn kill_running(admin: &mut mysql_async::Conn, sql: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let find = format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '{}%'",
        sql.replace('\'', "''")
    );
    loop {
        if let Some(id) = admin.query_first::<u32, _>(&find).await.unwrap() {
            admin
                .query_drop(format!("KILL CONNECTION {id}"))
                .await
                .unwrap();
            return id;
        }
        assert!(Instant::now() < deadline, "`{sql}` never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `sluice_server_connections_lost_total`, 0 before the first.
fn lost_count(sluice: &MySluice) -> f64 {
    sluice
        .metric("sluice_server_connections_lost_total", "protocol=\"mysql\"")
        .unwrap_or(0.0)
}

/// Waits until sluice has counted more lost server connections than `before`.
async fn noticed_loss(sluice: &MySluice, before: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while lost_count(sluice) <= before {
        assert!(
            Instant::now() < deadline,
            "sluice did not notice the lost server connection\n{}",
            sluice.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens a transaction with `begin` that inserts `id`, kills its server connection
/// from `admin` and waits until sluice has noticed. Returns the killed connection's id.
async fn lose_idle_transaction(
    sluice: &MySluice,
    c: &mut mysql_async::Conn,
    admin: &mut mysql_async::Conn,
    begin: &str,
    id: u32,
) -> u32 {
    c.query_drop(begin).await.unwrap();
    c.query_drop(format!("INSERT INTO items VALUES ({id})"))
        .await
        .unwrap();
    let before = lost_count(sluice);
    let killed = server_thread(c).await;
    admin.query_drop(format!("KILL {killed}")).await.unwrap();
    noticed_loss(sluice, before).await;
    killed
}

/// The server error a result carries: (code, SQLSTATE, message).
fn server_error<T: std::fmt::Debug>(r: Result<T, mysql_async::Error>) -> (u16, String, String) {
    match r {
        Err(mysql_async::Error::Server(e)) => (e.code, e.state, e.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Asserts that `r` is the server error `code`, `state`, `message`.
fn assert_error<T: std::fmt::Debug>(
    r: Result<T, mysql_async::Error>,
    code: u16,
    state: &str,
    message: &str,
) {
    let (c, s, m) = server_error(r);
    assert_eq!((c, s.as_str(), m.as_str()), (code, state, message));
}

async fn time_zone(c: &mut mysql_async::Conn) -> String {
    c.query_first("SELECT @@session.time_zone")
        .await
        .unwrap()
        .unwrap()
}

fn ids(m: &MariaDbServer) -> String {
    m.sql(&format!(
        "SELECT COALESCE(GROUP_CONCAT(id ORDER BY id), '') FROM {DATABASE}.items"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_transaction_whose_server_connection_is_killed_fails_and_the_session_goes_on() {
    let (m, sluice, mut admin, mut c) = fixture().await;
    let killed = lose_idle_transaction(&sluice, &mut c, &mut admin, "BEGIN", 1).await;

    // The first statement hears of the loss, the next ones that the transaction is
    // over; none runs in autocommit, not even one that would begin anew.
    assert_error(
        c.query_drop("INSERT INTO items VALUES (2)").await,
        1158,
        "08S01",
        LOST,
    );
    for sql in ["INSERT INTO items VALUES (3)", "BEGIN", "SELECT 1"] {
        assert_error(c.query_drop(sql).await, 1179, "25000", STILL_LOST);
    }
    assert_eq!(ids(&m), "", "nothing of the lost transaction ran");
    c.query_drop("ROLLBACK").await.expect("ROLLBACK ends it");

    // The next transaction runs on a new server connection, with the session's
    // settings.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO items VALUES (4)").await.unwrap();
    assert_ne!(server_thread(&mut c).await, killed);
    assert_eq!(time_zone(&mut c).await, TIME_ZONE);
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(ids(&m), "4");
    assert!(sluice.log().contains("the client keeps its session"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_fails_until_the_client_has_heard_of_the_loss() {
    let (m, sluice, mut admin, mut c) = fixture().await;

    // COMMIT first: the work it would commit is gone.
    lose_idle_transaction(&sluice, &mut c, &mut admin, "BEGIN", 1).await;
    assert_error(c.query_drop("COMMIT").await, 1158, "08S01", LOST);
    // The COMMIT ended the transaction: the next statement is an autocommit one.
    c.query_drop("INSERT INTO items VALUES (2)").await.unwrap();
    assert_eq!(ids(&m), "2");

    // Once told, COMMIT ends the rolled-back transaction as after a deadlock.
    lose_idle_transaction(&sluice, &mut c, &mut admin, "START TRANSACTION", 3).await;
    assert_error(c.query_drop("SELECT 1").await, 1158, "08S01", LOST);
    c.query_drop("COMMIT")
        .await
        .expect("COMMIT after the error");
    assert_eq!(ids(&m), "2");
    let again: u32 = c.query_first("SELECT 7").await.unwrap().unwrap();
    assert_eq!(again, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_in_flight_inside_a_transaction_fails_once_and_the_transaction_is_lost() {
    let (m, sluice, mut admin, mut c) = fixture().await;
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO items VALUES (1)").await.unwrap();
    let (answer, killed) = tokio::join!(
        c.query_drop("SELECT SLEEP(5)"),
        kill_running(&mut admin, "SELECT SLEEP(5)")
    );
    assert_error(answer, 1158, "08S01", LOST);
    assert_error(c.query_drop("SELECT 1").await, 1179, "25000", STILL_LOST);
    c.query_drop("ROLLBACK").await.unwrap();
    assert_ne!(server_thread(&mut c).await, killed);
    assert_eq!(ids(&m), "");

    // A statement that commits implicitly: what it committed is not known.
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO items VALUES (2)").await.unwrap();
    let ddl = "CREATE TABLE slow AS SELECT SLEEP(5) AS s";
    let (answer, _) = tokio::join!(c.query_drop(ddl), kill_running(&mut admin, ddl));
    let (code, state, message) = server_error(answer);
    assert_eq!((code, state.as_str()), (1158, "08S01"));
    assert!(
        message.ends_with("whether the transaction was committed is unknown"),
        "{message}"
    );
    // It was: MariaDB commits before DDL.
    assert_eq!(ids(&m), "2");
    c.query_drop("ROLLBACK").await.unwrap();
    c.query_drop("INSERT INTO items VALUES (3)").await.unwrap();
    assert_eq!(ids(&m), "2,3");
    assert_eq!(lost_count(&sluice), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocommit_statement_in_flight_fails_without_being_sent_again() {
    let (m, sluice, mut admin, mut c) = fixture().await;
    let write = "INSERT INTO items SELECT 1 FROM DUAL WHERE SLEEP(3) = 0";
    let started = Instant::now();
    let (answer, killed) = tokio::join!(c.query_drop(write), kill_running(&mut admin, write));
    // Sent again, it would have answered after its sleep.
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_error(
        answer,
        1158,
        "08S01",
        "sluice: lost the server connection during the query (the database server stopped \
         or failed over); whether the statement took effect is unknown",
    );
    let row: (u32, String) = c
        .query_first("SELECT CONNECTION_ID(), @@session.time_zone")
        .await
        .expect("the session goes on")
        .unwrap();
    assert_ne!(row.0, killed);
    assert_eq!(row.1, TIME_ZONE);
    assert_eq!(ids(&m), "");
    assert_eq!(lost_count(&sluice), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_and_session_mode_clients_lose_their_session() {
    let (m, sluice, mut admin, mut c) = fixture().await;
    // A user variable lives on the server connection only.
    c.query_drop("SET @x = 1").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    let killed = server_thread(&mut c).await;
    admin.query_drop(format!("KILL {killed}")).await.unwrap();
    assert_error(
        c.query_drop("SELECT @x").await,
        1158,
        "08S01",
        "sluice: lost the server connection during the query",
    );
    let after = c.query_drop("SELECT 1").await.expect_err("session over");
    assert!(after.is_fatal(), "{after:?}");
    drop(sluice);

    let sluice = MySluice::start(Options {
        pool_mode: "session",
        ..Options::new(vec![m.port()])
    });
    for in_transaction in [false, true] {
        let mut c = sluice.connect().await;
        if in_transaction {
            c.query_drop("BEGIN").await.unwrap();
        }
        let killed = server_thread(&mut c).await;
        admin.query_drop(format!("KILL {killed}")).await.unwrap();
        let (code, _, _) = server_error(c.query_drop("SELECT 1").await);
        assert_eq!(code, 1158);
        let after = c.query_drop("SELECT 1").await.expect_err("session over");
        assert!(
            after.is_fatal(),
            "in transaction: {in_transaction}: {after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_whose_member_stops_fails_and_the_next_runs_on_the_promoted_replica() {
    let mut primary = start_mariadb();
    primary.sql(&format!(
        "CREATE TABLE {DATABASE}.items (id INT PRIMARY KEY)"
    ));
    let replica = MariaDbServer::start_replica_of(&primary);
    let sluice = MySluice::start(Options::new(vec![primary.port(), replica.port()]));
    let mut c = sluice.connect().await;
    let mut idle = sluice.connect().await;
    c.query_drop("SET time_zone = '+05:00'").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO items VALUES (1)").await.unwrap();
    let on: u32 = c.query_first("SELECT @@server_id").await.unwrap().unwrap();
    assert_eq!(on, primary.server_id());
    replica.wait_replicated(&primary);

    let before = lost_count(&sluice);
    tokio::task::block_in_place(|| primary.stop());
    noticed_loss(&sluice, before).await;
    // A client between transactions waits for the new writable member.
    let held = tokio::spawn(async move { idle.query_first::<u32, _>("SELECT @@server_id").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    replica.sql("STOP SLAVE; RESET SLAVE ALL");
    replica.set_read_only(false);

    assert_error(c.query_drop("SELECT 1").await, 1158, "08S01", LOST);
    c.query_drop("ROLLBACK").await.unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop("INSERT INTO items VALUES (2)").await.unwrap();
    let (on, tz): (u32, String) = c
        .query_first("SELECT @@server_id, @@session.time_zone")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((on, tz.as_str()), (replica.server_id(), "+05:00"));
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(ids(&replica), "2");
    let held = held.await.unwrap().expect("the held client is served");
    assert_eq!(held, Some(replica.server_id()));
}
