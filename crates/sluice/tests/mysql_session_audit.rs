//! MySQL statements that leave state on a server connection, read by their tokens,
//! against a real MariaDB: a temporary table hidden behind comments pins its client
//! and never reaches the next one; `KILL` in any disguise reaches only sluice's kill
//! registry, never the server; the per-client bound on prepared statements.

mod mysql_support;

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_support::*;

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_temporary_table_behind_comments_pins_and_never_reaches_the_next_client() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 1,
        extra_database: "checkout_timeout = \"1s\"\n".into(),
        ..Options::new(vec![m.port()])
    });
    // Words in strings, quoted identifiers and comments do not pin: another client
    // gets the only server connection while this one stays connected.
    let mut calm = s.connect().await;
    calm.query_drop("SELECT 'temporary', 'get_lock(1)' /* CREATE TEMPORARY TABLE */")
        .await
        .unwrap();
    let mut other = s.connect().await;
    let v: i64 = other.query_first("SELECT 2").await.unwrap().unwrap();
    assert_eq!(v, 2);
    calm.disconnect().await.unwrap();

    for (n, create) in [
        "/*!50000 CREATE TEMPORARY */ TABLE tmp_a (x INT)",
        "CREATE/**/TEMPORARY TABLE tmp_a (x INT)",
        "/* c */ CREATE -- c\n TEMPORARY TABLE tmp_a (x INT)",
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = s.connect().await;
        a.query_drop(create).await.unwrap();
        a.query_drop(format!("INSERT INTO tmp_a VALUES ({n})"))
            .await
            .unwrap();
        // The client keeps the only server connection: another one waits in vain.
        let e = other.query_drop("SELECT 1").await.unwrap_err();
        assert_eq!(server_code(&e), Some(1040), "case {n}: {e}");
        let x: i64 = a.query_first("SELECT x FROM tmp_a").await.unwrap().unwrap();
        assert_eq!(x, n as i64, "case {n}");
        a.disconnect().await.unwrap();
        // The connection was reset before the next client got it.
        let e = other.query_drop("SELECT x FROM tmp_a").await.unwrap_err();
        assert_eq!(server_code(&e), Some(1146), "case {n}: {e}");
    }
    let metrics = s.admin_get("/metrics").1;
    assert!(
        metrics.contains("reason=\"temporary_table\""),
        "no pin counted by reason: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_in_any_disguise_never_reaches_the_server() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 2,
        ..Options::new(vec![m.port()])
    });
    // The victim holds its server connection in a transaction; CONNECTION_ID() there
    // is the server's thread id (sluice does not rewrite it).
    let mut victim = s.connect().await;
    let victim_id = victim.id();
    victim.query_drop("START TRANSACTION").await.unwrap();
    let thread: u32 = victim
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(thread, victim_id, "a server thread id is not a sluice id");
    let sleeping = tokio::spawn(async move {
        let started = Instant::now();
        let r: Result<Option<i64>, _> = victim.query_first("SELECT SLEEP(3)").await;
        (r.map_err(|e| e.to_string()), started.elapsed(), victim)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut killer = s.connect().await;
    // Server thread ids are not sluice ids: each form reaches sluice's registry,
    // which does not know the id.
    for sql in [
        format!("/* c */ KILL {thread}"),
        format!("KILL/**/{thread}"),
        format!("/*!50000 KILL */ {thread}"),
        format!("# c\nKILL QUERY {thread}"),
        format!("KILL HARD CONNECTION {thread}"),
    ] {
        let e = killer.query_drop(&sql).await.unwrap_err();
        assert_eq!(server_code(&e), Some(1094), "{sql}: {e}");
    }
    // Forms sluice cannot translate are refused, not sent.
    for sql in [
        format!("KILL USER {DB_USER}"),
        "KILL QUERY ID 1".to_string(),
        "KILL CONNECTION_ID()".to_string(),
        format!("SELECT 1; KILL {thread}"),
        format!("CREATE EVENT e ON SCHEDULE AT NOW() DO KILL {thread}"),
    ] {
        let e = killer.query_drop(&sql).await.unwrap_err();
        assert_eq!(server_code(&e), Some(1235), "{sql}: {e}");
        assert!(e.to_string().contains("sluice"), "{sql}: {e}");
    }
    let e = killer.prep(format!("KILL {thread}")).await.unwrap_err();
    assert_eq!(server_code(&e), Some(1235), "{e}");

    let (result, took, mut victim) = sleeping.await.unwrap();
    assert_eq!(result, Ok(Some(0)), "the victim's query was interrupted");
    assert!(took >= Duration::from_secs(3), "{took:?}");
    let again: u32 = victim
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, thread, "the victim's server connection was killed");
    victim.query_drop("COMMIT").await.unwrap();

    // A disguised KILL of the victim's sluice id works as a plain one does.
    let slow = tokio::spawn(async move {
        let started = Instant::now();
        let r: Result<Option<i64>, _> = victim.query_first("SELECT SLEEP(10)").await;
        (r.map_err(|e| e.to_string()), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    killer
        .query_drop(format!("/* c */ /*!50000 KILL QUERY */ {victim_id}"))
        .await
        .unwrap();
    let (result, took) = slow.await.unwrap();
    assert!(took < Duration::from_secs(5), "not interrupted: {result:?}");
    assert!(
        s.log().contains("statement refused"),
        "no log line for refusals"
    );
}

#[tokio::test]
async fn prepared_statements_per_client_are_bounded() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        extra_database: "max_prepared_statements = 3\n".into(),
        ..Options::new(vec![m.port()])
    });
    let mut c = s.connect().await;
    let mut open = Vec::new();
    for i in 0..3 {
        open.push(c.prep(format!("SELECT {i} + ?")).await.unwrap());
    }
    let e = c.prep("SELECT 3 + ?").await.unwrap_err();
    assert_eq!(server_code(&e), Some(1461), "{e}");
    assert!(
        e.to_string().contains(
            "Can't create more than max_prepared_stmt_count statements (current value: 3)"
        ),
        "{e}"
    );
    // The session goes on; closing one makes room for another.
    let v: i64 = c.exec_first(&open[0], (5,)).await.unwrap().unwrap();
    assert_eq!(v, 5);
    c.close(open.remove(0)).await.unwrap();
    let st = c.prep("SELECT 4 + ?").await.unwrap();
    let v: i64 = c.exec_first(&st, (1,)).await.unwrap().unwrap();
    assert_eq!(v, 5);
    // Another client has a bound of its own.
    let mut d = s.connect().await;
    let st = d.prep("SELECT 10 + ?").await.unwrap();
    let v: i64 = d.exec_first(&st, (1,)).await.unwrap().unwrap();
    assert_eq!(v, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_role_set_by_one_client_never_reaches_the_next() {
    let m = start_mariadb();
    m.sql(&format!(
        "CREATE ROLE audit_role; GRANT audit_role TO '{DB_USER}'@'%';"
    ));
    let s = MySluice::start(Options {
        pool_size: 1,
        extra_database: "checkout_timeout = \"1s\"\n".into(),
        ..Options::new(vec![m.port()])
    });
    let mut a = s.connect().await;
    let mut b = s.connect().await;
    a.query_drop("/* c */ SET ROLE audit_role").await.unwrap();
    // `a` keeps the only server connection.
    let e = b.query_drop("SELECT 1").await.unwrap_err();
    assert_eq!(server_code(&e), Some(1040), "{e}");
    let role: Option<String> = a
        .query_first("SELECT CURRENT_ROLE()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(role.as_deref(), Some("audit_role"));
    a.disconnect().await.unwrap();
    let role: Option<String> = b
        .query_first("SELECT CURRENT_ROLE()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(role, None, "the role reached another client");
    let metrics = s.admin_get("/metrics").1;
    assert!(metrics.contains("reason=\"role\""), "{metrics}");
}
