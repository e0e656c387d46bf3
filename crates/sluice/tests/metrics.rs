//! What `/metrics` says of clients and server connections by state (active, waiting,
//! idle, pinned) and of latencies (query and transaction time, checkout wait, server
//! connect time), on the PostgreSQL and the MySQL side, as clients move between the states.

mod common;
mod mysql_support;

use std::time::Duration;

use mysql_async::prelude::*;
use test_support::sluice::SluiceProcess;

/// Waits until metric `name` of the route reads `want`; fails with what it read.
fn expect(sluice: &SluiceProcess, name: &str, pool: &str, want: f64) {
    let label = format!("pool=\"{pool}\"");
    let ok = mysql_support::eventually(Duration::from_secs(10), || {
        sluice.metric(name, &label) == Some(want)
    });
    assert!(
        ok,
        "{name}{{{label}}} = {:?}, expected {want}",
        sluice.metric(name, &label)
    );
}

fn at_least(sluice: &SluiceProcess, name: &str, pool: &str, min: f64) {
    let got = sluice.metric(name, &format!("pool=\"{pool}\""));
    assert!(got.is_some_and(|v| v >= min), "{name} = {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_clients_and_servers_by_state() {
    let pg = common::start_postgres();
    let sluice = common::Sluice::start(
        &pg,
        common::SluiceOptions {
            pool_size: 1,
            ..Default::default()
        },
    );
    let idle = sluice.connect().await;
    idle.query_one("select 1", &[]).await.unwrap();
    let busy = sluice.connect().await;
    busy.batch_execute("begin").await.unwrap();
    busy.query_one("select 1", &[]).await.unwrap();
    expect(&sluice, "sluice_pool_clients_active", "appdb", 1.0);
    expect(&sluice, "sluice_pool_clients_idle", "appdb", 1.0);
    expect(&sluice, "sluice_pool_clients_waiting", "appdb", 0.0);

    // The one server connection is taken: the idle client's next query waits for it.
    let waiting = tokio::spawn(async move {
        idle.query_one("select 2", &[]).await.unwrap();
        idle
    });
    expect(&sluice, "sluice_pool_clients_waiting", "appdb", 1.0);
    expect(&sluice, "sluice_pool_clients_idle", "appdb", 0.0);
    busy.batch_execute("commit").await.unwrap();
    let idle = waiting.await.unwrap();
    expect(&sluice, "sluice_pool_clients_waiting", "appdb", 0.0);
    expect(&sluice, "sluice_pool_clients_active", "appdb", 0.0);
    expect(&sluice, "sluice_pool_clients_idle", "appdb", 2.0);
    at_least(&sluice, "sluice_transaction_seconds_count", "appdb", 3.0);
    at_least(&sluice, "sluice_checkout_wait_seconds_count", "appdb", 3.0);
    at_least(&sluice, "sluice_server_connect_seconds_count", "appdb", 1.0);
    at_least(&sluice, "sluice_query_seconds_count", "appdb", 5.0);

    // LISTEN keeps the server connection for the session: pinned until it ends.
    busy.batch_execute("listen metrics").await.unwrap();
    expect(&sluice, "sluice_pool_clients_pinned", "appdb", 1.0);
    expect(&sluice, "sluice_pool_clients_active", "appdb", 1.0);
    drop(busy);
    expect(&sluice, "sluice_pool_clients_pinned", "appdb", 0.0);
    expect(&sluice, "sluice_pool_clients", "appdb", 1.0);
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_clients_by_state_and_pinned_until_reset() {
    let m = mysql_support::start_mariadb();
    let sluice = mysql_support::MySluice::start(mysql_support::Options::new(vec![m.port()]));
    let db = mysql_support::DATABASE;
    let mut a = sluice.connect().await;
    let mut b = sluice.connect().await;
    a.query_drop("BEGIN").await.unwrap();
    b.query_drop("SELECT 1").await.unwrap();
    expect(&sluice, "sluice_pool_clients_active", db, 1.0);
    expect(&sluice, "sluice_pool_clients_idle", db, 1.0);
    a.query_drop("COMMIT").await.unwrap();
    expect(&sluice, "sluice_pool_clients_active", db, 0.0);
    at_least(&sluice, "sluice_transaction_seconds_count", db, 2.0);
    at_least(&sluice, "sluice_server_connect_seconds_count", db, 1.0);
    at_least(&sluice, "sluice_query_seconds_count", db, 3.0);

    // A user variable pins the client; COM_RESET_CONNECTION ends that.
    b.query_drop("SET @v = 1").await.unwrap();
    expect(&sluice, "sluice_pool_clients_pinned", db, 1.0);
    b.reset().await.unwrap();
    expect(&sluice, "sluice_pool_clients_pinned", db, 0.0);
    a.query_drop("SET @w = 1").await.unwrap();
    expect(&sluice, "sluice_pool_clients_pinned", db, 1.0);
    a.disconnect().await.unwrap();
    expect(&sluice, "sluice_pool_clients_pinned", db, 0.0);
    b.disconnect().await.unwrap();
}
