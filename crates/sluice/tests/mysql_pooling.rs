//! MySQL through sluice with real clients (mysql_async, the mariadb CLI, sysbench)
//! against a real MariaDB: multiplexing, session state, prepared statements,
//! transactions, KILL, streaming and LOAD DATA LOCAL INFILE.

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
async fn many_clients_share_few_server_connections_as_the_database_user() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 3,
        ..Options::new(vec![m.port()])
    });
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let url = s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE);
        tasks.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
                .await
                .unwrap();
            for j in 0..20u64 {
                let v: u64 = c
                    .query_first(format!("SELECT {i} * 100 + {j}"))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(v, i * 100 + j);
            }
            let who: String = c
                .query_first("SELECT CURRENT_USER()")
                .await
                .unwrap()
                .unwrap();
            c.disconnect().await.unwrap();
            who
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), format!("{DB_USER}@%"));
    }
    // The pool (3) and the member watcher's one connection; never one per client.
    let n = server_connections(&m);
    assert!(
        n <= 4,
        "{n} server connections for 20 clients with a pool of 3"
    );
}

#[tokio::test]
async fn session_state_follows_its_client_and_never_leaks() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 2,
        ..Options::new(vec![m.port()])
    });
    let mut a = s.connect().await;
    // Replayable: a session variable and the default database.
    a.query_drop("SET SESSION time_zone = '+05:00'")
        .await
        .unwrap();
    a.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'")
        .await
        .unwrap();
    let mut others = Vec::new();
    for _ in 0..6 {
        let mut o = s.connect().await;
        let tz: String = o
            .query_first("SELECT @@session.time_zone")
            .await
            .unwrap()
            .unwrap();
        assert_ne!(tz, "+05:00", "a session variable leaked to another client");
        let mode: String = o
            .query_first("SELECT @@session.sql_mode")
            .await
            .unwrap()
            .unwrap();
        assert!(!mode.contains("ANSI_QUOTES"), "sql_mode leaked: {mode}");
        others.push(o);
    }
    let tz: String = a
        .query_first("SELECT @@session.time_zone")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tz, "+05:00");
    let mode: String = a
        .query_first("SELECT @@session.sql_mode")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mode, "ANSI_QUOTES");

    // Not replayable: user variables and temporary tables pin the client.
    let mut b = s.connect().await;
    b.query_drop("SET @v = 41").await.unwrap();
    b.query_drop("CREATE TEMPORARY TABLE tmp_b (x INT)")
        .await
        .unwrap();
    b.query_drop("INSERT INTO tmp_b VALUES (7)").await.unwrap();
    for o in &mut others {
        let v: Option<i64> = o.query_first("SELECT @v").await.unwrap().unwrap();
        assert_eq!(v, None, "a user variable leaked");
    }
    let v: i64 = b.query_first("SELECT @v + 1").await.unwrap().unwrap();
    assert_eq!(v, 42);
    let x: i64 = b.query_first("SELECT x FROM tmp_b").await.unwrap().unwrap();
    assert_eq!(x, 7);
    // COM_RESET_CONNECTION ends the pinned session state.
    b.reset().await.unwrap();
    let v: Option<i64> = b.query_first("SELECT @v").await.unwrap().unwrap();
    assert_eq!(v, None);
    b.disconnect().await.unwrap();
    // The pinned connection was closed, not handed to someone else with @v set.
    for o in &mut others {
        let v: Option<i64> = o.query_first("SELECT @v").await.unwrap().unwrap();
        assert_eq!(v, None);
    }
    assert!(s
        .admin_get("/metrics")
        .1
        .contains("sluice_clients_pinned_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prepared_statements_work_across_server_connections() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 2,
        ..Options::new(vec![m.port()])
    });
    let mut setup = s.connect().await;
    setup
        .query_drop("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
        .await
        .unwrap();
    setup
        .exec_batch(
            "INSERT INTO items VALUES (?, ?)",
            (0..50).map(|i| (i, format!("item{i}"))),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..12i64 {
        let url = s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE);
        tasks.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
                .await
                .unwrap();
            let stmt = c.prep("SELECT ? * 2 + ?").await.unwrap();
            let names = c.prep("SELECT name FROM items WHERE id = ?").await.unwrap();
            for j in 0..30i64 {
                let v: i64 = c.exec_first(&stmt, (i, j)).await.unwrap().unwrap();
                assert_eq!(v, i * 2 + j);
                let n: String = c.exec_first(&names, (j,)).await.unwrap().unwrap();
                assert_eq!(n, format!("item{j}"));
            }
            c.close(stmt).await.unwrap();
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn session_mode_gives_each_client_its_own_connection_for_its_lifetime() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 2,
        pool_mode: "session",
        extra_database: "checkout_timeout = \"1s\"".into(),
        ..Options::new(vec![m.port()])
    });
    let mut a = s.connect().await;
    let mut b = s.connect().await;
    let first: u64 = a
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    for _ in 0..5 {
        let _: u64 = b
            .query_first("SELECT CONNECTION_ID()")
            .await
            .unwrap()
            .unwrap();
        let again: u64 = a
            .query_first("SELECT CONNECTION_ID()")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            again, first,
            "a session-mode client moved to another connection"
        );
    }
    // Both connections are taken for as long as their clients stay: a third waits and
    // is refused with the pool's name.
    let url = s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE);
    let third = async {
        let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap()).await?;
        c.query_drop("SELECT 1").await
    };
    let err = third.await.unwrap_err().to_string();
    assert!(err.contains("1040") && err.contains(DATABASE), "{err}");
    // When a client leaves, its connection serves the next one.
    a.disconnect().await.unwrap();
    let mut c = s.connect().await;
    let v: i64 = c.query_first("SELECT 3").await.unwrap().unwrap();
    assert_eq!(v, 3);
}

#[tokio::test]
async fn transactions_keep_their_connection_and_abandoned_ones_roll_back() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 2,
        ..Options::new(vec![m.port()])
    });
    let mut a = s.connect().await;
    a.query_drop("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await
        .unwrap();
    a.query_drop("START TRANSACTION").await.unwrap();
    a.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    let mut b = s.connect().await;
    let n: i64 = b
        .query_first("SELECT COUNT(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "uncommitted row visible to another client");
    let seen: i64 = a
        .query_first("SELECT COUNT(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, 1, "the transaction moved to another connection");
    drop(a); // abandoned mid-transaction
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let mut c = s.connect().await;
        let n: i64 = c
            .query_first("SELECT COUNT(*) FROM t")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);
        let in_tx: i64 = c
            .query_first("SELECT @@in_transaction")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(in_tx, 0, "a connection came back with an open transaction");
    }
    // autocommit off: every statement is in a transaction until COMMIT.
    b.query_drop("SET autocommit = 0").await.unwrap();
    b.query_drop("INSERT INTO t VALUES (2)").await.unwrap();
    let mut c = s.connect().await;
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
    b.query_drop("COMMIT").await.unwrap();
    let n: i64 = c
        .query_first("SELECT COUNT(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 1);
}

/// A client idle inside a transaction past `idle_in_transaction_timeout` loses its
/// session, its transaction is rolled back, and the pool's only connection serves others.
#[tokio::test]
async fn a_client_idle_in_a_transaction_is_disconnected() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 1,
        extra_database: "idle_in_transaction_timeout = \"500ms\"".into(),
        ..Options::new(vec![m.port()])
    });
    let mut a = s.connect().await;
    a.query_drop("CREATE TABLE idle_t (id INT PRIMARY KEY) ENGINE=InnoDB")
        .await
        .unwrap();
    // Idle outside a transaction: no timeout.
    tokio::time::sleep(Duration::from_millis(800)).await;
    a.query_drop("START TRANSACTION").await.unwrap();
    a.query_drop("INSERT INTO idle_t VALUES (1)").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let err = a.query_drop("COMMIT").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("4031"), "the client was told why: {text}");
    let mut b = s.connect().await;
    let n: i64 = b
        .query_first("SELECT COUNT(*) FROM idle_t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "the idle client's transaction was committed");
    let log = s.log();
    assert!(log.contains("idle in a transaction"), "{log}");
}

/// A deadlock rolls the victim's transaction back on the server: its connection goes
/// back to the pool at once, though the ERR packet carries no status saying so.
#[tokio::test]
async fn a_deadlock_victim_gives_its_connection_back() {
    const IN_TRANS: u16 = 0x0001;
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 2,
        extra_database: "checkout_timeout = \"3s\"".into(),
        ..Options::new(vec![m.port()])
    });
    let mut a = s.connect().await;
    a.query_drop("CREATE TABLE dl (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        .await
        .unwrap();
    a.query_drop("INSERT INTO dl VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let mut b = s.connect().await;
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("UPDATE dl SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    b.query_drop("BEGIN").await.unwrap();
    b.query_drop("UPDATE dl SET v = 2 WHERE id = 2")
        .await
        .unwrap();
    // Both connections of the pool are in transactions; each now waits for the other.
    let waiting = tokio::spawn(async move {
        let r = a.query_drop("UPDATE dl SET v = 1 WHERE id = 2").await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = b.query_drop("UPDATE dl SET v = 2 WHERE id = 1").await;
    let (a, ra) = waiting.await.unwrap();
    let (mut victim, mut winner) = match (r, ra) {
        (Err(e), Ok(())) => {
            assert!(e.to_string().contains("1213"), "{e}");
            (b, a)
        }
        (Ok(()), Err(e)) => {
            assert!(e.to_string().contains("1213"), "{e}");
            (a, b)
        }
        other => panic!("expected one deadlock victim, got {other:?}"),
    };
    victim.ping().await.unwrap();
    let flags = victim.last_ok_packet().unwrap().status_flags().bits();
    assert_eq!(flags & IN_TRANS, 0, "the victim is out of its transaction");
    // The winner still holds one connection; the other is free for a newcomer.
    let mut c = s.connect().await;
    let one: u8 = c.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
    winner.query_drop("COMMIT").await.unwrap();
}

#[tokio::test]
async fn last_insert_id_follows_the_client() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 3,
        ..Options::new(vec![m.port()])
    });
    let mut a = s.connect().await;
    a.query_drop("CREATE TABLE seq (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    a.query_drop("INSERT INTO seq (v) VALUES (1), (2), (3)")
        .await
        .unwrap();
    a.query_drop("INSERT INTO seq (v) VALUES (4)")
        .await
        .unwrap();
    // Other clients insert in between, on whatever connection.
    let mut b = s.connect().await;
    for _ in 0..5 {
        b.query_drop("INSERT INTO seq (v) VALUES (9)")
            .await
            .unwrap();
    }
    let id: u64 = a
        .query_first("SELECT LAST_INSERT_ID()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id, 4);
}

#[tokio::test]
async fn affected_rows_count_matched_rows_for_clients_that_ask() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 2,
        ..Options::new(vec![m.port()])
    });
    let mut plain = s.connect().await;
    plain
        .query_drop("CREATE TABLE fr (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    plain
        .query_drop("INSERT INTO fr (v) VALUES (5), (5)")
        .await
        .unwrap();
    // The OK packet's counts and message reach the driver as the server sent them.
    assert_eq!(plain.affected_rows(), 2);
    assert_eq!(plain.last_insert_id(), Some(1));
    assert_eq!(plain.info(), "Records: 2  Duplicates: 0  Warnings: 0");
    // An UPDATE that matches two rows and changes none. Clients interleave, so both
    // kinds of server connection are in use at the same time.
    let url = format!(
        "{}?client_found_rows=true",
        s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE)
    );
    let mut found = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap();
    for _ in 0..3 {
        plain.query_drop("UPDATE fr SET v = 5").await.unwrap();
        assert_eq!(plain.affected_rows(), 0, "changed rows by default");
        found.query_drop("UPDATE fr SET v = 5").await.unwrap();
        assert_eq!(
            found.affected_rows(),
            2,
            "matched rows with CLIENT_FOUND_ROWS"
        );
    }
    // Prepared statements too.
    found.exec_drop("UPDATE fr SET v = ?", (5,)).await.unwrap();
    assert_eq!(found.affected_rows(), 2);
    plain.exec_drop("UPDATE fr SET v = ?", (5,)).await.unwrap();
    assert_eq!(plain.affected_rows(), 0);
    found.disconnect().await.unwrap();
    plain.disconnect().await.unwrap();
}

#[tokio::test]
async fn commands_of_16_mib_and_more_pass_split_into_packets() {
    let m = start_mariadb();
    m.sql("SET GLOBAL max_allowed_packet = 64 * 1024 * 1024");
    let s = MySluice::start(Options {
        pool_size: 1,
        ..Options::new(vec![m.port()])
    });
    let mut c = s.connect().await;
    // 17 MiB: more than one packet's 16 MiB - 1 in both protocols.
    let big = "x".repeat(17 << 20);
    let n: u64 = c
        .query_first(format!("SELECT LENGTH('{big}')"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 17 << 20);
    let n: u64 = c
        .exec_first("SELECT LENGTH(?)", (big.as_str(),))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 17 << 20);
    let one: u8 = c.query_first("SELECT 1").await.unwrap().unwrap();
    assert_eq!(one, 1);
}

/// Drivers choose how to quote strings by the NO_BACKSLASH_ESCAPES status flag: the
/// packets sluice writes itself (greeting, PING's OK) carry it as the servers do.
#[tokio::test]
async fn the_no_backslash_escapes_flag_reaches_clients() {
    const NO_BACKSLASH_ESCAPES: u16 = 0x0200;
    let m = start_mariadb();
    m.sql("SET GLOBAL sql_mode = CONCAT(@@global.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    let s = MySluice::start(Options::new(vec![m.port()]));
    let mut c = s.connect().await;
    let flags = |c: &mysql_async::Conn| {
        c.last_ok_packet()
            .map(|ok| ok.status_flags().bits())
            .expect("an OK packet was read")
    };
    c.ping().await.unwrap();
    assert_ne!(
        flags(&c) & NO_BACKSLASH_ESCAPES,
        0,
        "from the member's greeting"
    );
    c.query_drop("SET SESSION sql_mode = ''").await.unwrap();
    c.ping().await.unwrap();
    assert_eq!(
        flags(&c) & NO_BACKSLASH_ESCAPES,
        0,
        "after the session changed it"
    );
    c.query_drop("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
        .await
        .unwrap();
    c.ping().await.unwrap();
    assert_ne!(flags(&c) & NO_BACKSLASH_ESCAPES, 0);
    let quoted: String = c.query_first(r"SELECT 'a\b'").await.unwrap().unwrap();
    assert_eq!(quoted, r"a\b", "backslashes are plain characters");
}

#[tokio::test]
async fn multi_statements_and_large_streamed_results() {
    let m = start_mariadb();
    let s = MySluice::start(Options::new(vec![m.port()]));
    let mut c = s.connect().await;
    let mut r = c
        .query_iter("SELECT 1; SELECT 2, 3; SELECT 'x'")
        .await
        .unwrap();
    let first: Vec<i64> = r.collect().await.unwrap();
    let second: Vec<(i64, i64)> = r.collect().await.unwrap();
    let third: Vec<String> = r.collect().await.unwrap();
    drop(r);
    assert_eq!(
        (first, second, third),
        (vec![1], vec![(2, 3)], vec!["x".to_owned()])
    );
    // 40 rows of 1 MiB each: relayed as they arrive.
    let rows: Vec<String> = c
        .query("SELECT REPEAT(CHAR(65 + seq % 26), 1048576) FROM seq_0_to_39")
        .await
        .unwrap();
    assert_eq!(rows.len(), 40);
    assert!(rows
        .iter()
        .enumerate()
        .all(|(i, r)| r.len() == 1 << 20 && r.as_bytes()[0] == b'A' + (i % 26) as u8));
    let v: i64 = c.query_first("SELECT 5").await.unwrap().unwrap();
    assert_eq!(v, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_query_reaches_only_the_client_it_names() {
    let m = start_mariadb();
    let s = MySluice::start(Options {
        pool_size: 4,
        users: format!(
            "[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n[users.other]\npassword = \"other-pw\"\n"
        ),
        ..Options::new(vec![m.port()])
    });
    let mut victim = s.connect().await;
    let victim_id = victim.id();
    let mut bystander = s.connect().await;
    let slow = tokio::spawn(async move {
        let started = Instant::now();
        let r: Result<Option<i64>, _> = victim.query_first("SELECT SLEEP(10)").await;
        (r.map_err(|e| e.to_string()), started.elapsed(), victim)
    });
    let calm = tokio::spawn(async move {
        let r: Option<i64> = bystander.query_first("SELECT SLEEP(2)").await.unwrap();
        r
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut killer = s.connect().await;
    killer
        .query_drop(format!("KILL QUERY {victim_id}"))
        .await
        .unwrap();
    let (result, took, mut victim) = slow.await.unwrap();
    assert!(
        took < Duration::from_secs(5),
        "the query was not interrupted: {result:?} after {took:?}"
    );
    // MariaDB returns 1 from an interrupted SLEEP or reports the interruption.
    assert!(
        matches!(result, Ok(Some(1))) || result.is_err(),
        "{result:?}"
    );
    assert_eq!(
        calm.await.unwrap(),
        Some(0),
        "the bystander's query was disturbed"
    );
    let v: i64 = victim.query_first("SELECT 7").await.unwrap().unwrap();
    assert_eq!(v, 7, "the victim's session must go on after KILL QUERY");

    // Unknown ids and other users' clients.
    let e = killer.query_drop("KILL QUERY 1").await.unwrap_err();
    assert_eq!(server_code(&e), Some(1094), "{e}");
    let url = s.url(s.rw_port, "other", "other-pw", DATABASE);
    let mut other = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap();
    let e = other
        .query_drop(format!("KILL {victim_id}"))
        .await
        .unwrap_err();
    assert_eq!(server_code(&e), Some(1095), "{e}");
    // KILL CONNECTION ends the victim's session.
    killer
        .query_drop(format!("KILL {victim_id}"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        victim.query_drop("SELECT 1").await.is_err(),
        "the killed session still answers"
    );
}

#[test]
fn mariadb_cli_and_load_data_local_infile() {
    let m = start_mariadb();
    let s = MySluice::start(Options::new(vec![m.port()]));
    let out = s
        .cli(s.rw_port, APP_USER, APP_PASSWORD, &[], "CREATE TABLE f (a INT, b VARCHAR(10)); INSERT INTO f VALUES (1, 'one'); SELECT b FROM f")
        .unwrap();
    assert_eq!(out.trim(), "one");
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("rows.csv");
    std::fs::write(&file, "2,two\n3,three\n").unwrap();
    let load = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE f FIELDS TERMINATED BY ','",
        file.display()
    );
    // The route does not allow it (the default): refused, and the session goes on.
    let err = s
        .cli(
            s.rw_port,
            APP_USER,
            APP_PASSWORD,
            &["--local-infile=1"],
            &load,
        )
        .unwrap_err();
    assert!(
        err.contains("1148") || err.to_lowercase().contains("not allowed"),
        "{err}"
    );
    drop(s);

    let s = MySluice::start(Options {
        extra_database: "local_infile = true".into(),
        ..Options::new(vec![m.port()])
    });
    m.sql("SET GLOBAL local_infile = 1");
    s.cli(
        s.rw_port,
        APP_USER,
        APP_PASSWORD,
        &["--local-infile=1"],
        &load,
    )
    .unwrap();
    let out = s
        .cli(
            s.rw_port,
            APP_USER,
            APP_PASSWORD,
            &[],
            "SELECT COUNT(*) FROM f",
        )
        .unwrap();
    assert_eq!(out.trim(), "3");
}

#[test]
fn sysbench_point_selects_run_without_errors() {
    let sysbench = sysbench();
    let m = start_mariadb();
    let s = MySluice::start(Options::new(vec![m.port()]));
    let prepare = std::process::Command::new(sysbench)
        .arg("oltp_point_select")
        .args(sysbench_args(m.port(), DB_USER, DB_PASSWORD))
        .arg("prepare")
        .output()
        .unwrap();
    assert!(
        prepare.status.success(),
        "{}",
        String::from_utf8_lossy(&prepare.stderr)
    );
    let run = std::process::Command::new(sysbench)
        .arg("oltp_point_select")
        .args(sysbench_args(s.rw_port, APP_USER, APP_PASSWORD))
        .args(["--threads=8", "--time=3", "run"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(sysbench_count(&out, "ignored errors:"), Some(0), "{out}");
    let queries = sysbench_count(&out, "queries:").unwrap_or(0);
    assert!(queries > 100, "{out}");
}
