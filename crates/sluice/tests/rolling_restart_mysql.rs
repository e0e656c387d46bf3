//! Stopping a MySQL replica of sluice loses no transaction: on SIGTERM it turns
//! unready at once, stops accepting, lets running transactions finish and tells each
//! client to go with the server's shutdown error (ERR 1053) only between its
//! transactions, cutting the rest after `shutdown_grace`. Three replicas restarted
//! one after another behind a round-robin forwarder (a Service) serve clients that
//! reconnect without a failed transaction.

mod mysql_support;
mod restart_support;

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::Conn;
use mysql_support::*;
use restart_support::{check, rolling_restart, terminate, Outcome, TxClient};

/// Why a command failed: the server error's code, or "closed".
fn why(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => s.code.to_string(),
        _ => "closed".into(),
    }
}

struct MyClient(Conn);

impl TxClient for MyClient {
    async fn connect(target: String) -> Result<Self, String> {
        let opts = mysql_async::Opts::from_url(&target).map_err(|e| e.to_string())?;
        Conn::new(opts)
            .await
            .map(MyClient)
            .map_err(|e| e.to_string())
    }

    async fn transaction(&mut self, client: u32, n: u32) -> Outcome {
        let c = &mut self.0;
        if let Err(e) = c.query_drop("START TRANSACTION").await {
            return Outcome::NotBegun(why(&e));
        }
        let work = async {
            c.exec_drop("INSERT INTO t (client, n) VALUES (?, ?)", (client, n))
                .await?;
            let seen: Option<u32> = c
                .exec_first("SELECT COUNT(*) FROM t WHERE client = ?", (client,))
                .await?;
            c.query_drop("COMMIT").await?;
            Ok::<_, mysql_async::Error>(seen)
        };
        match work.await {
            Ok(Some(seen)) if seen == n + 1 => Outcome::Committed,
            Ok(seen) => Outcome::Failed(format!("saw {seen:?} rows after insert {n}")),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// A transaction under way at SIGTERM commits and its client is told to go at its
/// next command; an idle client is told at its next command too; a transaction still
/// open when `shutdown_grace` (5 s in tests) is over is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_clients_to_go_between_transactions() {
    let m = start_mariadb();
    m.sql(&format!("CREATE TABLE {DATABASE}.d (x INT)"));
    let mut s = MySluice::start(Options::new(vec![m.port()]));
    let mut busy = s.connect().await;
    let mut stuck = s.connect().await;
    let mut idle = s.connect().await;
    for (c, x) in [(&mut busy, 1), (&mut stuck, 2)] {
        c.query_drop("START TRANSACTION").await.unwrap();
        c.query_drop(format!("INSERT INTO d VALUES ({x})"))
            .await
            .unwrap();
    }
    idle.query_drop("SELECT 1").await.unwrap();
    terminate(&s, s.rw_port).await;
    // Unready while the open transactions hold the drain.
    assert_eq!(s.admin_get("/readyz").0, 503);
    let err = idle.query_drop("SELECT 1").await.unwrap_err();
    assert_eq!(why(&err), "1053", "{err}");
    busy.query_drop("INSERT INTO d VALUES (3)").await.unwrap();
    busy.query_drop("COMMIT").await.unwrap();
    let err = busy.query_drop("SELECT 1").await.unwrap_err();
    assert_eq!(why(&err), "1053", "{err}");
    // Still open after the grace: cut, and sluice exits.
    assert_eq!(s.wait_exit(Duration::from_secs(20)), Some(true));
    assert!(stuck.query_drop("COMMIT").await.is_err());
    assert_eq!(
        m.sql(&format!(
            "SELECT GROUP_CONCAT(x ORDER BY x) FROM {DATABASE}.d"
        ))
        .trim(),
        "1,3"
    );
}

/// Three replicas behind a round-robin forwarder, restarted one after another on
/// their own ports while 12 clients run transactions: none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_three_replicas_fails_no_transaction() {
    let m = start_mariadb();
    m.sql(&format!(
        "CREATE TABLE {DATABASE}.t (client INT, n INT, PRIMARY KEY (client, n))"
    ));
    let options = |listen| Options {
        listen,
        ..Options::new(vec![m.port()])
    };
    let mut replicas: Vec<MySluice> = (0..3).map(|_| MySluice::start(options(None))).collect();
    let target = |port| format!("mysql://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{port}/{DATABASE}");
    let again = |r: &MySluice| MySluice::start(options(Some((r.rw_port, r.ro_port))));
    let (tally, service) =
        rolling_restart::<MyClient, _>(&mut replicas, |r| r.rw_port, target, again).await;
    let rows = m.sql(&format!("SELECT COUNT(*) FROM {DATABASE}.t"));
    check(
        "MySQL",
        &tally,
        &service,
        "1053",
        rows.trim().parse().unwrap(),
    );
}
