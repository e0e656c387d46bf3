//! Routing to cluster members by role, against a real MariaDB primary and a real
//! replica (binlog replication): writes to the writable member, reads spread over
//! readable ones, fall-back when a member stops answering, and role changes.

mod mysql_support;

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_support::*;
use test_support::MariaDbServer;

async fn server_id(s: &MySluice, port: u16) -> u32 {
    let mut c = s.connect_to(port).await;
    let id: u32 = c.query_first("SELECT @@server_id").await.unwrap().unwrap();
    c.disconnect().await.unwrap();
    id
}

/// Polls `server_id` through `port` until it is `expected`.
async fn wait_for_member(s: &MySluice, port: u16, expected: u32) -> bool {
    for _ in 0..100 {
        if server_id(s, port).await == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn writes_go_to_the_writable_member_and_reads_to_the_replica() {
    let primary = start_mariadb();
    let replica = MariaDbServer::start_replica_of(&primary);
    let s = MySluice::start(Options::new(vec![primary.port(), replica.port()]));
    assert_eq!(server_id(&s, s.rw_port).await, primary.server_id());
    let mut rw = s.connect().await;
    rw.query_drop("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)")
        .await
        .unwrap();
    rw.query_drop("INSERT INTO notes VALUES (1, 'written through sluice')")
        .await
        .unwrap();
    replica.wait_replicated(&primary);
    for _ in 0..5 {
        assert_eq!(server_id(&s, s.ro_port).await, replica.server_id());
    }
    let mut ro = s.connect_to(s.ro_port).await;
    let body: String = ro
        .query_first("SELECT body FROM notes WHERE id = 1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body, "written through sluice");
    // The replica refuses writes; sluice passes its error on.
    let err = ro
        .query_drop("INSERT INTO notes VALUES (2, 'x')")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("1290") || err.to_string().contains("read-only"),
        "{err}"
    );
    let (code, body) = s.admin_get("/readyz");
    assert_eq!(code, 200, "{body}");
    let metrics = s.admin_get("/metrics").1;
    assert!(metrics.contains("sluice_mysql_member_role"), "{metrics}");
}

#[tokio::test]
async fn reads_fall_back_when_a_member_stops_and_writes_follow_a_role_change() {
    let primary = start_mariadb();
    let replica = MariaDbServer::start_replica_of(&primary);
    // Writes wait out a gap between writable members for up to 3 s, then are refused.
    let s = MySluice::start(Options {
        extra_cluster: "failover_timeout = \"3s\"".into(),
        ..Options::new(vec![primary.port(), replica.port()])
    });
    assert_eq!(server_id(&s, s.ro_port).await, replica.server_id());

    // The replica stops answering: once the watcher notices, reads go to the primary
    // until it is back. (A query already sent to a frozen member waits for it, as it
    // would on a direct connection.)
    replica.pause();
    let down = format!(
        "sluice_mysql_member_role{{cluster=\"main\",member=\"127.0.0.1:{}\"}} -1",
        replica.port()
    );
    assert!(
        eventually(Duration::from_secs(15), || s
            .admin_get("/metrics")
            .1
            .contains(&down)),
        "the paused replica was not marked down:\n{}",
        s.admin_get("/metrics").1
    );
    assert!(
        wait_for_member(&s, s.ro_port, primary.server_id()).await,
        "reads did not fall back to the primary:\n{}",
        s.log()
    );
    replica.resume();
    assert!(
        wait_for_member(&s, s.ro_port, replica.server_id()).await,
        "reads did not return to the replica"
    );

    // Switch-over: the old primary becomes read-only, the replica writable.
    primary.set_read_only(true);
    replica.set_read_only(false);
    assert!(
        wait_for_member(&s, s.rw_port, replica.server_id()).await,
        "writes did not follow the role change:\n{}",
        s.log()
    );
    let mut rw = s.connect().await;
    rw.query_drop("CREATE TABLE after_switch (x INT)")
        .await
        .unwrap();

    // No writable member at all: a clear error naming the pool, and not ready.
    replica.set_read_only(true);
    let mut refused = None;
    for _ in 0..100 {
        let url = s.url(s.rw_port, APP_USER, APP_PASSWORD, DATABASE);
        // The driver runs a query while connecting: the refusal may come there.
        let attempt = async {
            let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap()).await?;
            c.query_drop("SELECT 1").await
        };
        match attempt.await {
            Err(e) => {
                refused = Some(e.to_string());
                break;
            }
            Ok(()) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let refused = refused.expect("queries still served with no writable member");
    assert!(
        refused.contains("no writable member") && refused.contains(DATABASE),
        "{refused}"
    );
    // A route's problem, not the replica's: it stays ready and says why.
    let (code, body) = s.admin_get("/readyz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("no writable member"), "{body}");
    let (_, routes) = s.admin_get("/routes");
    assert!(routes.contains("\"ready\":false"), "{routes}");
}

async fn try_database(s: &MySluice, db: &str) -> Result<String, String> {
    let url = s.url(s.rw_port, APP_USER, APP_PASSWORD, db);
    let attempt = async {
        let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&url)?).await?;
        let name: String = c.query_first("SELECT DATABASE()").await?.unwrap();
        c.disconnect().await?;
        Ok::<_, mysql_async::Error>(name)
    };
    attempt.await.map_err(|e| e.to_string())
}

/// Polls until connecting to `db` gives `expected` (Ok: the database's name; Err: a
/// text the error contains).
async fn wait_for_database(s: &MySluice, db: &str, expected: Result<&str, &str>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = try_database(s, db).await;
        let done = match (&got, expected) {
            (Ok(name), Ok(want)) => name == want,
            (Err(e), Err(want)) => e.contains(want),
            _ => false,
        };
        if done {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{db}: expected {expected:?}, got {got:?}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A reload adds a database, moves the clients of a changed one to its new route at
/// their next transaction, and removes one, without a restart.
#[tokio::test]
async fn a_reload_adds_changes_and_removes_databases() {
    let m = start_mariadb();
    m.create_database("extra");
    let s = MySluice::start(Options::new(vec![m.port()]));
    let mut old_client = s.connect().await;
    old_client.query_drop("SELECT 1").await.unwrap();
    let err = try_database(&s, "extra").await.unwrap_err();
    assert!(err.contains("1049"), "{err}");

    let original = std::fs::read_to_string(&s.config_path).unwrap();
    let credentials = original
        .lines()
        .find(|l| l.starts_with("credentials = "))
        .unwrap()
        .to_owned();
    // `shop` changes (a client limit: a new route); `extra` is added.
    let changed = original.replacen(
        "pool_mode = \"transaction\"",
        "pool_mode = \"transaction\"\nmax_client_conn = 50",
        1,
    ) + &format!("\n[mysql.databases.extra]\ncluster = \"main\"\n{credentials}\n");
    std::fs::write(&s.config_path, &changed).unwrap();
    s.signal("HUP");
    wait_for_database(&s, "extra", Ok("extra")).await;
    let db: String = old_client
        .query_first("SELECT DATABASE()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db, DATABASE);
    let log = s.log();
    assert!(log.contains("MySQL database added"), "{log}");
    assert!(log.contains("client moves to the reloaded route"), "{log}");

    // `extra` removed again: refused as unknown, and `shop` serves on.
    std::fs::write(&s.config_path, &original).unwrap();
    s.signal("HUP");
    wait_for_database(&s, "extra", Err("1049")).await;
    assert_eq!(try_database(&s, DATABASE).await, Ok(DATABASE.to_owned()));
    old_client.query_drop("SELECT 1").await.unwrap();
    assert!(s.log().contains("MySQL database removed"));
}

/// A client between transactions waits while the cluster has no writable member and
/// goes on on the new one: no error, same session.
#[tokio::test]
async fn a_client_between_transactions_is_held_until_a_member_is_writable() {
    let primary = start_mariadb();
    let replica = MariaDbServer::start_replica_of(&primary);
    let s = MySluice::start(Options {
        extra_cluster: "failover_timeout = \"20s\"".into(),
        ..Options::new(vec![primary.port(), replica.port()])
    });
    let mut c = s.connect().await;
    let id: u32 = c.query_first("SELECT @@server_id").await.unwrap().unwrap();
    assert_eq!(id, primary.server_id());
    // Switch-over with a gap: no writable member for a second.
    primary.set_read_only(true);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let started = std::time::Instant::now();
    let query = tokio::spawn(async move {
        let id: Result<Option<u32>, _> = c.query_first("SELECT @@server_id").await;
        (id, c)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !query.is_finished(),
        "the query did not wait for a writable member"
    );
    replica.set_read_only(false);
    let (id, mut c) = query.await.unwrap();
    assert_eq!(id.unwrap(), Some(replica.server_id()), "{}", s.log());
    eprintln!("held for {:?}", started.elapsed());
    c.query_drop("CREATE TABLE after_hold (x INT)")
        .await
        .unwrap();
    assert!(
        s.metric("sluice_clients_held_total", "outcome=\"served\"")
            .unwrap_or(0.0)
            >= 1.0
    );
}
