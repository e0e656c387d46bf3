//! The watcher of a PostgreSQL cluster, against a real primary and its streaming
//! standby: sluice knows the primary before any client asks, sees a switchover while
//! no client is connected (the primary stopped, the standby promoted), closes the idle
//! pooled connections to the former primary at once, and the next client is served
//! by the new primary.

mod common;

use std::time::{Duration, Instant};

use common::{Sluice, SluiceOptions, DB_PASSWORD, DB_USER};
use test_support::{AuthMethod, PgServer};

/// Longest wait for what the watcher should see within a few of its rounds (every
/// 200 ms here); a bound for a clear failure, not a speed requirement.
const SEEN_WITHIN: Duration = Duration::from_secs(5);

/// Waits until `cond` holds, up to [`SEEN_WITHIN`]; panics naming `what` and the last
/// `/routes` answer.
fn wait_until(sluice: &Sluice, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + SEEN_WITHIN;
    while !cond() {
        if Instant::now() >= deadline {
            panic!(
                "{what}: not seen within {SEEN_WITHIN:?}; /routes: {}",
                sluice.admin_get("/routes").1
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `sluice_cluster_primary` is 1 for the member on `port`.
fn is_primary(sluice: &Sluice, port: u16) -> bool {
    let member = format!("member=\"127.0.0.1:{port}\"");
    sluice.metric("sluice_cluster_primary", &member) == Some(1.0)
}

fn idle_servers(sluice: &Sluice) -> Option<f64> {
    sluice.metric("sluice_pool_servers", "state=\"idle\"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_follows_a_switchover_that_no_client_saw() {
    let mut primary = PgServer::start();
    primary.create_user(DB_USER, DB_PASSWORD, AuthMethod::Scram);
    primary.create_database("appdb", DB_USER);
    let standby = PgServer::start_standby_of(&primary);
    let sluice = Sluice::start(
        &primary,
        SluiceOptions {
            hosts: Some(vec![primary.port(), standby.port()]),
            extra_cluster: "check_interval = \"200ms\"\nconnect_timeout = \"1s\"\n".into(),
            ..Default::default()
        },
    );

    // Known before any client asks.
    wait_until(&sluice, "the primary, before any client", || {
        is_primary(&sluice, primary.port())
    });

    // A client leaves an idle server connection to the primary in the pool.
    {
        let client = sluice.connect().await;
        let port: i32 = client
            .query_one("select current_setting('port')::int4", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(port, i32::from(primary.port()));
    }
    wait_until(&sluice, "an idle server connection in the pool", || {
        idle_servers(&sluice).is_some_and(|n| n >= 1.0)
    });

    // The switchover, while no client is connected.
    primary.stop();
    standby.promote();
    wait_until(
        &sluice,
        "the promoted standby as primary, with no client traffic",
        || is_primary(&sluice, standby.port()),
    );
    assert!(
        !is_primary(&sluice, primary.port()),
        "two members are marked primary"
    );
    assert_eq!(
        sluice.metric("sluice_cluster_switchovers_total", ""),
        Some(1.0)
    );
    wait_until(
        &sluice,
        "the idle connection to the former primary closed",
        || idle_servers(&sluice) == Some(0.0),
    );

    // The next client is served by the new primary.
    let client = sluice.connect().await;
    let row = client
        .query_one(
            "select current_setting('port')::int4, pg_is_in_recovery()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), i32::from(standby.port()));
    assert!(!row.get::<_, bool>(1));
    let log = sluice.log();
    assert!(
        log.contains("the cluster's primary changed"),
        "no switchover logged:\n{log}"
    );
}
