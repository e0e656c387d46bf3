use std::net::SocketAddr;
use std::sync::Arc;

use super::*;

fn client(user: &str) -> ClientInfo {
    ClientInfo {
        protocol: "postgres",
        user: user.into(),
        database: "app".into(),
        peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        tls: false,
        application_name: String::new(),
        wire_id: 7,
    }
}

fn server() -> ServerInfo {
    ServerInfo {
        protocol: "postgres",
        user: "v-app-1".into(),
        database: "app".into(),
        addr: SocketAddr::from(([127, 0, 0, 1], 5432)),
        local: None,
        remote_pid: 4242,
        tls: false,
    }
}

#[test]
fn entries_are_listed_while_their_listing_lives() {
    let activity = Arc::new(Activity::default());
    let a = activity.add_client(client("a"));
    let b = activity.add_client(client("b"));
    let s = activity.add_server(server());
    assert_ne!(a.id, b.id);
    assert_ne!(a.id, s.id, "one id space for clients and servers");
    let users: Vec<_> = activity
        .clients()
        .iter()
        .map(|c| c.info.user.clone())
        .collect();
    assert_eq!(users, ["a", "b"], "oldest first");
    assert_eq!(activity.servers().len(), 1);
    let a_id = a.id;
    drop(a);
    assert!(activity.client(a_id).is_none());
    assert_eq!(activity.clients().len(), 1);
    drop(s);
    assert!(activity.servers().is_empty());
}

#[test]
fn states_follow_the_session() {
    let activity = Arc::new(Activity::default());
    let c = activity.add_client(client("a"));
    let s = activity.add_server(server());
    assert_eq!(c.state(), ClientState::Idle);
    c.waiting();
    assert_eq!(c.state(), ClientState::Waiting);
    assert_ne!(c.wait_since(), 0);
    assert_ne!(c.request_at(), 0);
    s.lent();
    s.serves(c.id);
    c.serving(s.id);
    assert_eq!(c.state(), ClientState::Active);
    assert_eq!(c.server(), Some(s.id));
    assert_eq!(c.wait_since(), 0);
    assert_eq!(s.state(), ServerState::Active);
    assert_eq!(s.client(), Some(c.id));
    s.returned();
    c.idle();
    assert_eq!(s.state(), ServerState::Idle);
    assert_eq!(s.client(), None);
    assert_eq!(c.server(), None);
    assert_eq!(c.state(), ClientState::Idle);
}

#[tokio::test]
async fn a_kill_wakes_the_session() {
    let activity = Arc::new(Activity::default());
    let c = activity.add_client(client("a"));
    let entry = activity.client(c.id).expect("listed");
    let waiter = tokio::spawn(async move { entry.killed().await });
    assert!(!c.is_killed());
    c.kill();
    waiter.await.expect("woken");
    assert!(c.is_killed());
}

#[tokio::test]
async fn draining_and_closing_reach_every_client_and_later_ones() {
    use crate::shutdown::ShutdownController;
    use doorbell::{CLOSING, DRAINING};

    let activity = Arc::new(Activity::default());
    let (ctl, shutdown) = ShutdownController::new();
    let ringer = tokio::spawn(activity.clone().ring_on_shutdown(shutdown));
    let early = activity.add_client(client("a"));
    let entry = activity.client(early.id).expect("listed");
    let waiter = tokio::spawn(async move { entry.bell().rung(DRAINING).await });
    tokio::task::yield_now().await;
    assert!(!early.bell().is_rung(DRAINING | CLOSING));

    ctl.set(Phase::Draining);
    waiter.await.expect("woken by draining");
    assert!(early.bell().is_rung(DRAINING) && !early.bell().is_rung(CLOSING));
    let late = activity.add_client(client("b"));
    assert!(
        late.bell().is_rung(DRAINING),
        "a client listed after the ring hears it"
    );

    ctl.set(Phase::Closing);
    ringer.await.expect("the ringer ends once closing");
    assert!(early.bell().is_rung(CLOSING) && late.bell().is_rung(CLOSING));
}

#[test]
fn times_round_trip() {
    assert_eq!(from_micros(0), None);
    let now = now_micros();
    let back = from_micros(now).expect("a time");
    let diff = SystemTime::now()
        .duration_since(back)
        .expect("not in the future");
    assert!(diff < std::time::Duration::from_secs(60));
}

#[tokio::test]
async fn a_wait_for_returns_ends_when_the_last_chosen_server_comes_back() {
    let activity = Arc::new(Activity::default());
    let a = activity.add_server(server());
    let b = activity.add_server(server());
    let other = activity.add_server(ServerInfo {
        database: "other".into(),
        ..server()
    });
    a.lent();
    b.lent();
    other.lent();
    let waiter = tokio::spawn({
        let activity = activity.clone();
        async move { activity.until_returned(|s| s.info.database == "app").await }
    });
    tokio::task::yield_now().await;
    a.returned();
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "b is still out");
    drop(b); // closed instead of returned
    tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
        .await
        .expect("woken by the close")
        .expect("no panic");
    assert_eq!(
        other.state(),
        ServerState::Active,
        "another route's is not waited for"
    );
}
