//! A pool whose manager lists its connections (SHOW SERVERS): a connection is active
//! while a client holds it, and also while it passes straight to the next queued
//! client, so that PAUSE, which waits for every connection to be back, does not
//! answer between two transactions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pool_core::activity::{Activity, ServerInfo, ServerListing, ServerState};
use pool_core::pool::{Manager, Pool, PoolConfig};

struct Listed(Arc<Activity>);

impl Manager for Listed {
    type Connection = ();
    type Error = std::io::Error;

    async fn connect(&self) -> Result<(), std::io::Error> {
        Ok(())
    }

    fn list(&self, _conn: &()) -> Option<ServerListing> {
        Some(self.0.add_server(ServerInfo {
            protocol: "postgres",
            user: "app".into(),
            database: "app".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 5432)),
            local: None,
            remote_pid: 1,
            tls: false,
        }))
    }
}

fn one_connection() -> PoolConfig {
    PoolConfig {
        max_size: 1,
        min_idle: 0,
        checkout_timeout: Duration::from_secs(5),
        max_lifetime: None,
        lifetime_jitter: Duration::ZERO,
        idle_timeout: None,
    }
}

#[tokio::test]
async fn a_connection_handed_to_a_queued_client_stays_active_until_it_comes_back() {
    let activity = Arc::new(Activity::default());
    let pool = Arc::new(Pool::new(Listed(activity.clone()), one_connection()));
    let first = pool.get().await.unwrap();
    let entry = activity.servers().pop().expect("listed");
    assert_eq!(entry.state(), ServerState::Active);
    let queued = tokio::spawn({
        let pool = pool.clone();
        async move {
            let conn = pool.get().await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(conn);
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let paused = tokio::spawn({
        let activity = activity.clone();
        async move { activity.until_returned(|_| true).await }
    });
    drop(first);
    // Handed to the queued client: still active, and PAUSE still waits.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(entry.state(), ServerState::Active);
    assert!(
        !paused.is_finished(),
        "PAUSE answered between two transactions"
    );
    queued.await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), paused)
        .await
        .expect("PAUSE woken once the connection is idle")
        .unwrap();
    assert_eq!(entry.state(), ServerState::Idle);
    assert_eq!(entry.client(), None);
}
