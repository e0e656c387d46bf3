//! Three sluice replicas behind one round-robin forwarder, as behind a Kubernetes
//! Service: a PostgreSQL CancelRequest and a MySQL `KILL QUERY` arrive on a new
//! connection, usually at a replica that does not own the query, and must still stop
//! that query, every time. Also: a replica forwards only what is signed with the
//! peers' shared secret.

mod common;
mod mysql_support;

use std::time::{Duration, Instant};

use common::{Sluice, SluiceOptions};
use mysql_async::prelude::*;
use test_support::{free_port, RoundRobin};

const REPLICAS: usize = 3;
/// Long enough that only a cancel ends it within the test.
const SLEEP_SECONDS: u32 = 60;
/// Queries cancelled: every replica receives cancels of every other's queries.
const ROUNDS: usize = 9;

/// `[peers]` sections for `REPLICAS` replicas that know each other, and the directory
/// holding their shared secret.
fn peer_sections() -> (Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let secret = dir.path().join("peer-secret");
    std::fs::write(&secret, "a-shared-secret-of-the-replicas\n").expect("write secret");
    let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
    let addresses: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let sections = ports
        .iter()
        .map(|port| {
            format!(
                "[peers]\nlisten = \"127.0.0.1:{port}\"\naddresses = [{}]\nsecret_file = \"{}\"\nrefresh_interval = \"500ms\"\n",
                addresses.join(", "),
                secret.display()
            )
        })
        .collect();
    (sections, dir)
}

fn sum(values: impl Iterator<Item = Option<f64>>) -> f64 {
    values.map(|v| v.unwrap_or(0.0)).sum()
}

/// Waits until the server runs `query` (at most 20 s).
async fn wait_until_running(watcher: &tokio_postgres::Client, query: &str) {
    let sql = "select count(*) from pg_stat_activity where state = 'active' and query = $1";
    for _ in 0..400 {
        let n: i64 = watcher.query_one(sql, &[&query]).await.unwrap().get(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{query} never started on the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_cancel_reaches_the_replica_that_owns_the_query_every_time() {
    let pg = common::start_postgres();
    let (sections, _secret) = peer_sections();
    let replicas: Vec<Sluice> = sections
        .into_iter()
        .map(|extra_sections| {
            Sluice::start(
                &pg,
                SluiceOptions {
                    extra_sections,
                    ..Default::default()
                },
            )
        })
        .collect();
    let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
    let service = RoundRobin::start_loopback(&ports).await.expect("forwarder");
    let conninfo = format!(
        "host=127.0.0.1 port={} user={} password={} dbname=appdb",
        service.port(),
        common::APP_USER,
        common::APP_PASSWORD
    );

    // Looks at the server's activity, through one replica directly.
    let watcher = replicas[0].connect().await;
    for round in 0..ROUNDS {
        let c = common::connect(&conninfo).await;
        let cancel = c.cancel_token();
        let started = Instant::now();
        let sleeping = tokio::spawn(async move {
            let outcome = c
                .simple_query(&format!("select pg_sleep({SLEEP_SECONDS})"))
                .await;
            (outcome, c)
        });
        // Cancelled only once it runs: a cancel before that finds nothing to stop.
        wait_until_running(&watcher, &format!("select pg_sleep({SLEEP_SECONDS})")).await;
        // A new connection through the forwarder: the next replica in turn.
        cancel
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("send the cancel");
        let (outcome, c) = tokio::time::timeout(Duration::from_secs(20), sleeping)
            .await
            .unwrap_or_else(|_| panic!("round {round}: the cancel did not stop the query"))
            .unwrap();
        let err = outcome.expect_err("the query was cancelled");
        let code = err.as_db_error().map(|e| e.code().code().to_owned());
        assert_eq!(code.as_deref(), Some("57014"), "round {round}: {err}");
        assert!(started.elapsed() < Duration::from_secs(SLEEP_SECONDS as u64));
        // The session goes on.
        c.simple_query("select 1")
            .await
            .expect("the session goes on");
    }
    let forwarded = sum(replicas
        .iter()
        .map(|r| r.metric("sluice_peer_forwards_total", "outcome=\"done\"")));
    let served = sum(replicas
        .iter()
        .map(|r| r.metric("sluice_peer_requests_served_total", "kind=\"cancel\"")));
    eprintln!(
        "{ROUNDS} cancels through the forwarder: {forwarded} forwarded to the owning replica, \
         {served} carried out for a peer; connections per replica: {:?}",
        service.forwarded()
    );
    assert!(forwarded >= 1.0, "no cancel crossed replicas");
    assert_eq!(forwarded, served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_kill_query_from_another_connection_reaches_the_right_replica_every_time() {
    let m = mysql_support::start_mariadb();
    let (sections, _secret) = peer_sections();
    let replicas: Vec<mysql_support::MySluice> = sections
        .into_iter()
        .map(|extra_sections| {
            mysql_support::MySluice::start(mysql_support::Options {
                extra_sections,
                users: format!(
                    "[users.{}]\npassword = \"{}\"\n[users.other]\npassword = \"other-pw\"\n",
                    mysql_support::APP_USER,
                    mysql_support::APP_PASSWORD
                ),
                ..mysql_support::Options::new(vec![m.port()])
            })
        })
        .collect();
    let ports: Vec<u16> = replicas.iter().map(|r| r.rw_port).collect();
    let service = RoundRobin::start_loopback(&ports).await.expect("forwarder");
    let url = replicas[0].url(
        service.port(),
        mysql_support::APP_USER,
        mysql_support::APP_PASSWORD,
        mysql_support::DATABASE,
    );
    let connect = || async {
        mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
            .await
            .expect("connect through the forwarder")
    };

    // Looks at the server's process list, through one replica directly.
    let watcher_url = replicas[0].url(
        replicas[0].rw_port,
        mysql_support::APP_USER,
        mysql_support::APP_PASSWORD,
        mysql_support::DATABASE,
    );
    let mut watcher = mysql_async::Conn::new(mysql_async::Opts::from_url(&watcher_url).unwrap())
        .await
        .expect("connect to one replica");
    for round in 0..ROUNDS {
        let mut victim = connect().await;
        // The id sluice gave the client (SELECT CONNECTION_ID() is the server's).
        let id = victim.id();
        let started = Instant::now();
        let sleeping = tokio::spawn(async move {
            let r = victim
                .query_first::<i64, _>(format!("SELECT SLEEP({SLEEP_SECONDS})"))
                .await;
            (r, victim)
        });
        // Killed only once it runs: a KILL QUERY before that finds nothing to stop.
        let running = format!("SELECT SLEEP({SLEEP_SECONDS})");
        let mut started_on_server = false;
        for _ in 0..400 {
            let n: i64 = watcher
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = ?",
                    (running.as_str(),),
                )
                .await
                .unwrap()
                .unwrap();
            if n > 0 {
                started_on_server = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(started_on_server, "round {round}: the SLEEP never started");
        let mut killer = connect().await;
        killer
            .query_drop(format!("KILL QUERY {id}"))
            .await
            .unwrap_or_else(|e| panic!("round {round}: KILL QUERY {id}: {e}"));
        let (result, mut victim) = tokio::time::timeout(Duration::from_secs(20), sleeping)
            .await
            .unwrap_or_else(|_| panic!("round {round}: KILL QUERY did not stop the query"))
            .unwrap();
        // MariaDB returns 1 from an interrupted SLEEP or reports the interruption.
        assert!(
            matches!(result, Ok(Some(1))) || result.is_err(),
            "round {round}: {result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(SLEEP_SECONDS as u64));
        let seven: i64 = victim.query_first("SELECT 7").await.unwrap().unwrap();
        assert_eq!(seven, 7, "the victim's session goes on");
    }

    // Another sluice user may not kill it, whichever replica the KILL reaches.
    let mut victim = connect().await;
    let id = victim.id();
    let other_url = replicas[0].url(service.port(), "other", "other-pw", mysql_support::DATABASE);
    for _ in 0..REPLICAS {
        let mut other = mysql_async::Conn::new(mysql_async::Opts::from_url(&other_url).unwrap())
            .await
            .unwrap();
        let e = other.query_drop(format!("KILL {id}")).await.unwrap_err();
        let code = match &e {
            mysql_async::Error::Server(s) => Some(s.code),
            _ => None,
        };
        assert_eq!(code, Some(1095), "{e}");
    }
    victim.query_drop("SELECT 1").await.expect("still alive");

    let forwarded = sum(replicas.iter().map(|r| {
        r.metric(
            "sluice_peer_forwards_total",
            "kind=\"kill\",outcome=\"done\"",
        )
    }));
    eprintln!(
        "{ROUNDS} KILL QUERY through the forwarder: {forwarded} carried out by the owning peer; \
         connections per replica: {:?}",
        service.forwarded()
    );
    assert!(forwarded >= 1.0, "no KILL crossed replicas");
}
