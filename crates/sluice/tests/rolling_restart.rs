//! Stopping a PostgreSQL replica of sluice loses no transaction: on SIGTERM it turns
//! unready at once, stops accepting, lets running transactions finish and tells each
//! client to go (57P01) only between its transactions, cutting the rest after
//! `shutdown_grace`. Three replicas restarted one after another behind a round-robin
//! forwarder (a Service) serve clients that reconnect without a failed transaction.

mod common;
mod restart_support;

use std::time::Duration;

use common::*;
use restart_support::{check, rolling_restart, terminate, Outcome, TxClient};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

/// A client with the task of its connection, whose result says why it ended.
struct Watched {
    client: Client,
    connection: JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl Watched {
    async fn connect(conn_str: &str) -> Result<Watched, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(conn_str, NoTls).await?;
        Ok(Watched {
            client,
            connection: tokio::spawn(connection),
        })
    }

    /// Why the connection ended: the SQLSTATE sluice sent, or "closed". The client
    /// is kept meanwhile: dropping it would end the connection.
    async fn ended(self) -> String {
        let _client = self.client;
        match tokio::time::timeout(Duration::from_secs(30), self.connection).await {
            Ok(Ok(Err(e))) if e.code().is_some() => sqlstate(&e),
            Ok(Ok(_)) | Ok(Err(_)) => "closed".into(),
            Err(_) => "still open".into(),
        }
    }
}

impl TxClient for Watched {
    async fn connect(target: String) -> Result<Self, String> {
        Watched::connect(&target).await.map_err(|e| e.to_string())
    }

    async fn transaction(&mut self, client: u32, n: u32) -> Outcome {
        if let Err(e) = self.client.batch_execute("BEGIN").await {
            let why = match e.code() {
                Some(code) => code.code().to_owned(),
                None => std::mem::replace(&mut self.connection, tokio::spawn(async { Ok(()) }))
                    .await
                    .ok()
                    .and_then(|ended| ended.err())
                    .map_or("closed".into(), |e| sqlstate(&e)),
            };
            return Outcome::NotBegun(why);
        }
        let (client, n) = (client as i32, n as i32);
        let c = &self.client;
        let work = async {
            c.execute("insert into t (client, n) values ($1, $2)", &[&client, &n])
                .await?;
            let seen: i64 = c
                .query_one("select count(*) from t where client = $1", &[&client])
                .await?
                .get(0);
            c.batch_execute("COMMIT").await?;
            Ok::<_, tokio_postgres::Error>(seen)
        };
        match work.await {
            Ok(seen) if seen == i64::from(n) + 1 => Outcome::Committed,
            Ok(seen) => Outcome::Failed(format!("saw {seen} rows after insert {n}")),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// In both pool modes: a transaction under way at SIGTERM commits and its client is
/// told to go right after; an idle client is told at once; a transaction still open
/// when `shutdown_grace` (5 s in tests) is over is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_clients_to_go_between_transactions() {
    let pg = start_postgres();
    for mode in ["transaction", "session"] {
        let mut sluice = Sluice::start(
            &pg,
            SluiceOptions {
                pool_mode: mode,
                ..Default::default()
            },
        );
        let conn_str = sluice.app_conn_str();
        let table = format!("d_{mode}");
        let setup = sluice.connect().await;
        setup
            .batch_execute(&format!("create table {table} (x int)"))
            .await
            .unwrap();
        drop(setup);
        let busy = Watched::connect(&conn_str).await.unwrap();
        let stuck = Watched::connect(&conn_str).await.unwrap();
        let idle = Watched::connect(&conn_str).await.unwrap();
        for (c, x) in [(&busy, 1), (&stuck, 2)] {
            let sql = format!("begin; insert into {table} values ({x})");
            c.client.batch_execute(&sql).await.unwrap();
        }
        idle.client.batch_execute("select 1").await.unwrap();
        terminate(&sluice, sluice.port).await;
        // Unready while the open transactions hold the drain.
        assert_eq!(sluice.admin_get("/readyz").0, 503);
        // The idle client is told at once, while the open transactions hold the drain.
        assert_eq!(idle.ended().await, "57P01", "{mode}");
        assert!(!stuck.connection.is_finished(), "{mode}");
        // The busy one commits, then is told to go before its next request.
        let sql = format!("insert into {table} values (3); commit");
        busy.client.batch_execute(&sql).await.unwrap();
        assert_eq!(busy.ended().await, "57P01", "{mode}");
        // The one that never commits is cut when the grace is over.
        assert_eq!(stuck.ended().await, "57P01", "{mode}");
        assert_eq!(sluice.wait_exit(Duration::from_secs(20)), Some(true));
        let rows = pg.psql_db(
            "appdb",
            &format!("select string_agg(x::text, ',' order by x) from {table}"),
        );
        assert_eq!(rows, "1,3", "{mode}");
    }
}

/// Three replicas behind a round-robin forwarder, restarted one after another on
/// their own ports while 12 clients run transactions: none fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_three_replicas_fails_no_transaction() {
    let pg = start_postgres();
    let mut replicas: Vec<Sluice> = (0..3)
        .map(|_| Sluice::start(&pg, SluiceOptions::default()))
        .collect();
    let setup = replicas[0].connect().await;
    let table = "create table t (client int, n int, primary key (client, n))";
    setup.batch_execute(table).await.unwrap();
    let target = |port| {
        format!("host=127.0.0.1 port={port} user={APP_USER} password={APP_PASSWORD} dbname=appdb")
    };
    let again = |r: &Sluice| {
        let port = Some(r.port);
        Sluice::start(
            &pg,
            SluiceOptions {
                port,
                ..Default::default()
            },
        )
    };
    let (tally, service) =
        rolling_restart::<Watched, _>(&mut replicas, |r| r.port, target, again).await;
    let rows = pg
        .psql_db("appdb", "select count(*) from t")
        .parse()
        .unwrap();
    check("PostgreSQL", &tally, &service, "57P01", rows);
}
