//! Behaviour of the generic pool, driven by an in-memory manager that counts connects
//! and open connections.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool_core::pool::{Manager, Pool, PoolConfig, PoolError, PooledConnection, ShardedPool};
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout, Instant};

#[derive(Default)]
struct Counters {
    connects: AtomicUsize,
    /// Connections open or being opened.
    live: AtomicUsize,
    max_live: AtomicUsize,
    fail: AtomicBool,
    delay_ms: AtomicU64,
    /// Connections with an id up to this must retire (as if their lease ended).
    retire_up_to: AtomicUsize,
}

impl Counters {
    fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }

    fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

struct FakeManager(Arc<Counters>);

struct FakeConn {
    id: usize,
    counters: Arc<Counters>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.counters.live.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("connection refused")]
struct Refused;

impl Manager for FakeManager {
    type Connection = FakeConn;
    type Error = Refused;

    async fn connect(&self) -> Result<FakeConn, Refused> {
        let c = &self.0;
        let id = c.connects.fetch_add(1, Ordering::SeqCst) + 1;
        let live = c.live.fetch_add(1, Ordering::SeqCst) + 1;
        c.max_live.fetch_max(live, Ordering::SeqCst);
        // Counted as live from here on, so that a cancelled connect is released.
        let conn = FakeConn {
            id,
            counters: Arc::clone(c),
        };
        let delay = c.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            sleep(Duration::from_millis(delay)).await;
        }
        if c.fail.load(Ordering::SeqCst) {
            return Err(Refused);
        }
        Ok(conn)
    }

    fn must_retire(&self, conn: &FakeConn, _now: std::time::Instant) -> bool {
        conn.id <= self.0.retire_up_to.load(Ordering::SeqCst)
    }
}

type TestPool = Pool<FakeManager>;

fn config(max_size: usize) -> PoolConfig {
    PoolConfig {
        max_size,
        min_idle: 0,
        checkout_timeout: Duration::from_secs(5),
        max_lifetime: None,
        lifetime_jitter: Duration::ZERO,
        idle_timeout: None,
    }
}

fn pool(config: PoolConfig) -> (TestPool, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    (
        Pool::new(FakeManager(Arc::clone(&counters)), config),
        counters,
    )
}

async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        sleep(Duration::from_millis(2)).await;
    }
}

async fn wait_for_queue(pool: &TestPool, n: usize) {
    eventually(&format!("{n} waiters are queued"), || {
        pool.status().waiting == n
    })
    .await;
}

/// Spawns a `get()` that reports the connection id and holds the connection until told.
fn spawn_holder(
    pool: &TestPool,
) -> (
    tokio::task::JoinHandle<Result<usize, PoolError<Refused>>>,
    oneshot::Sender<()>,
) {
    let (release, released) = oneshot::channel::<()>();
    let pool = pool.clone();
    let task = tokio::spawn(async move {
        let conn = pool.get().await?;
        let id = conn.id;
        let _ = released.await;
        Ok(id)
    });
    (task, release)
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    let (pool, counters) = pool(config(1));
    let held = pool.get().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let p = pool.clone();
        let order = Arc::clone(&order);
        tasks.push(tokio::spawn(async move {
            let conn = p.get().await.unwrap();
            order.lock().unwrap().push(i);
            tokio::task::yield_now().await;
            drop(conn);
        }));
        wait_for_queue(&pool, i + 1).await;
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
    assert_eq!(counters.connects(), 1);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use, s.waiting), (1, 1, 0, 0));
}

#[tokio::test]
async fn returned_connection_goes_to_the_waiter_not_a_newcomer() {
    let (pool, _) = pool(config(1));
    let held = pool.get().await.unwrap();
    let held_id = held.id;
    let (waiter, release) = spawn_holder(&pool);
    wait_for_queue(&pool, 1).await;
    sleep(Duration::from_millis(30)).await;

    drop(held);
    // Handed over inside drop: nothing idle for anyone else to take.
    let s = pool.status();
    assert_eq!((s.idle, s.in_use, s.waiting), (0, 1, 0));
    // A newcomer arriving now must queue rather than take it.
    let newcomer = timeout(Duration::from_millis(100), pool.get()).await;
    assert!(newcomer.is_err(), "newcomer barged ahead of a waiter");
    assert_eq!(
        pool.status().waiting,
        0,
        "cancelled newcomer left the queue"
    );

    release.send(()).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), held_id);
    let again = pool.get().await.unwrap();
    assert_eq!(again.id, held_id);
}

#[tokio::test]
async fn waited_reports_time_in_queue() {
    let (pool, _) = pool(config(1));
    let held = pool.get().await.unwrap();
    let p = pool.clone();
    let waiter = tokio::spawn(async move { p.get().await.unwrap().waited() });
    wait_for_queue(&pool, 1).await;
    sleep(Duration::from_millis(60)).await;
    drop(held);
    assert!(waiter.await.unwrap() >= Duration::from_millis(60));
}

#[tokio::test]
async fn checkout_times_out() {
    let mut cfg = config(1);
    cfg.checkout_timeout = Duration::from_millis(50);
    let (pool, counters) = pool(cfg);
    let _held = pool.get().await.unwrap();
    let started = Instant::now();
    match pool.get().await {
        Err(PoolError::Timeout(d)) => assert_eq!(d, Duration::from_millis(50)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(pool.status().waiting, 0);
    assert_eq!(counters.connects(), 1);
}

#[tokio::test]
async fn waiters_that_gave_up_do_not_swallow_connections() {
    let mut cfg = config(1);
    cfg.checkout_timeout = Duration::from_millis(50);
    let (pool, counters) = pool(cfg.clone());
    let held = pool.get().await.unwrap();
    let held_id = held.id;

    // Times out.
    let p = pool.clone();
    let timed_out = tokio::spawn(async move { p.get().await.map(|c| c.id) });
    wait_for_queue(&pool, 1).await;
    cfg.checkout_timeout = Duration::from_secs(5);
    pool.set_config(cfg);
    // Cancelled while queued.
    let (cancelled, _keep) = spawn_holder(&pool);
    wait_for_queue(&pool, 2).await;
    // Stays.
    let (patient, release) = spawn_holder(&pool);
    wait_for_queue(&pool, 3).await;

    assert!(matches!(
        timed_out.await.unwrap(),
        Err(PoolError::Timeout(_))
    ));
    cancelled.abort();
    assert!(cancelled.await.unwrap_err().is_cancelled());
    assert_eq!(pool.status().waiting, 1);

    drop(held);
    release.send(()).unwrap();
    assert_eq!(patient.await.unwrap().unwrap(), held_id);
    assert_eq!(counters.connects(), 1);
    assert_eq!(pool.status().idle, 1);
}

#[tokio::test]
async fn connection_handed_to_a_waiter_cancelled_before_it_ran_is_passed_on() {
    let (pool, counters) = pool(config(1));
    let held = pool.get().await.unwrap();
    let held_id = held.id;
    let (first, _keep) = spawn_holder(&pool);
    wait_for_queue(&pool, 1).await;
    let (second, release) = spawn_holder(&pool);
    wait_for_queue(&pool, 2).await;

    // The connection lands in `first`'s channel; `first` is cancelled before reading it.
    drop(held);
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());

    release.send(()).unwrap();
    assert_eq!(second.await.unwrap().unwrap(), held_id);
    assert_eq!(counters.connects(), 1);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use, s.waiting), (1, 1, 0, 0));
}

#[tokio::test]
async fn discard_while_waiters_wait_opens_a_replacement() {
    let mut cfg = config(1);
    cfg.checkout_timeout = Duration::from_secs(2);
    let (pool, counters) = pool(cfg);
    let held = pool.get().await.unwrap();
    let held_id = held.id;
    let (waiter, release) = spawn_holder(&pool);
    wait_for_queue(&pool, 1).await;

    held.discard();
    eventually("the replacement is handed over", || {
        pool.status().in_use == 1 && pool.status().waiting == 0
    })
    .await;
    release.send(()).unwrap();
    let id = waiter.await.unwrap().unwrap();
    assert_ne!(id, held_id);
    assert_eq!(counters.connects(), 2);
    assert_eq!(counters.live(), 1, "the discarded connection was closed");
    assert_eq!(pool.status().size, 1);
}

#[tokio::test]
async fn discard_without_waiters_just_closes() {
    let (pool, counters) = pool(config(2));
    let conn = pool.get().await.unwrap();
    conn.discard();
    sleep(Duration::from_millis(20)).await;
    assert_eq!(counters.live(), 0);
    assert_eq!(counters.connects(), 1);
    assert_eq!(pool.status().size, 0);
}

#[tokio::test]
async fn connect_failure_frees_the_slot_and_reports_connect() {
    let (pool, counters) = pool(config(1));
    counters.fail.store(true, Ordering::SeqCst);
    match pool.get().await {
        Err(PoolError::Connect(Refused)) => {}
        other => panic!("expected a connect error, got {other:?}"),
    }
    let s = pool.status();
    assert_eq!((s.size, s.opening), (0, 0));

    counters.fail.store(false, Ordering::SeqCst);
    let conn = timeout(Duration::from_secs(1), pool.get())
        .await
        .expect("slot was not freed")
        .unwrap();
    assert_eq!(conn.id, 2);
}

#[tokio::test]
async fn failed_replacement_reports_to_the_oldest_waiter() {
    let (pool, counters) = pool(config(1));
    let held = pool.get().await.unwrap();
    let (first, _keep1) = spawn_holder(&pool);
    wait_for_queue(&pool, 1).await;
    let (second, _keep2) = spawn_holder(&pool);
    wait_for_queue(&pool, 2).await;

    counters.fail.store(true, Ordering::SeqCst);
    held.discard();
    let first = timeout(Duration::from_secs(1), first)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, Err(PoolError::Connect(Refused))));
    let second = timeout(Duration::from_secs(1), second)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(second, Err(PoolError::Connect(Refused))));
    let s = pool.status();
    assert_eq!((s.size, s.opening, s.waiting), (0, 0, 0));
}

#[tokio::test]
async fn cancelled_connect_releases_its_slot() {
    let (pool, counters) = pool(config(1));
    counters.delay_ms.store(10_000, Ordering::SeqCst);
    let p = pool.clone();
    let task = tokio::spawn(async move { p.get().await.map(|c| c.id) });
    eventually("the connect starts", || pool.status().opening == 1).await;
    task.abort();
    let _ = task.await;
    let s = pool.status();
    assert_eq!((s.size, s.opening), (0, 0));
    counters.delay_ms.store(0, Ordering::SeqCst);
    assert!(pool.get().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_size_holds_under_contention() {
    const MAX: usize = 5;
    let mut cfg = config(MAX);
    cfg.checkout_timeout = Duration::from_secs(30);
    let (pool, counters) = pool(cfg);
    counters.delay_ms.store(1, Ordering::SeqCst);
    let in_use = Arc::new(AtomicUsize::new(0));
    let max_in_use = Arc::new(AtomicUsize::new(0));

    let mut tasks = Vec::new();
    for i in 0..200usize {
        let pool = pool.clone();
        let in_use = Arc::clone(&in_use);
        let max_in_use = Arc::clone(&max_in_use);
        tasks.push(tokio::spawn(async move {
            for round in 0..3usize {
                let conn: PooledConnection<FakeManager> = pool.get().await.unwrap();
                let now = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_use.fetch_max(now, Ordering::SeqCst);
                if (i + round) % 3 == 0 {
                    sleep(Duration::from_micros(200)).await;
                } else {
                    tokio::task::yield_now().await;
                }
                in_use.fetch_sub(1, Ordering::SeqCst);
                if (i + round) % 11 == 0 {
                    conn.discard();
                } else {
                    drop(conn);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(max_in_use.load(Ordering::SeqCst) <= MAX);
    assert!(counters.max_live.load(Ordering::SeqCst) <= MAX);
    assert!(counters.connects() > MAX, "discards caused reconnects");
    eventually("background opens settle", || pool.status().opening == 0).await;
    let s = pool.status();
    assert_eq!((s.in_use, s.waiting, s.opening), (0, 0, 0));
    assert_eq!(s.size, s.idle);
    assert!(s.size <= MAX);
    assert_eq!(counters.live(), s.size);
}

#[tokio::test]
async fn connection_past_its_lifetime_is_closed_on_return() {
    let mut cfg = config(2);
    cfg.max_lifetime = Some(Duration::from_millis(150));
    let (pool, counters) = pool(cfg);
    let conn = pool.get().await.unwrap();
    let first_id = conn.id;
    drop(conn);
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, first_id, "young connection was reused");
    sleep(Duration::from_millis(200)).await;
    assert_eq!(counters.live(), 1, "never closed while in use");
    drop(conn);
    assert_eq!(counters.live(), 0);
    assert_eq!(pool.status().size, 0);
    let conn = pool.get().await.unwrap();
    assert_ne!(conn.id, first_id);
}

#[tokio::test]
async fn expired_idle_connection_is_skipped_by_get() {
    let mut cfg = config(2);
    cfg.max_lifetime = Some(Duration::from_millis(100));
    let (pool, counters) = pool(cfg);
    drop(pool.get().await.unwrap());
    assert_eq!(pool.status().idle, 1);
    sleep(Duration::from_millis(150)).await;
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 2);
    assert_eq!(counters.live(), 1);
    assert_eq!(pool.status().size, 1);
}

#[tokio::test]
async fn expiry_on_return_opens_a_replacement_for_waiters() {
    let mut cfg = config(1);
    cfg.max_lifetime = Some(Duration::from_millis(100));
    cfg.checkout_timeout = Duration::from_secs(2);
    let (pool, counters) = pool(cfg);
    let held = pool.get().await.unwrap();
    let (waiter, release) = spawn_holder(&pool);
    wait_for_queue(&pool, 1).await;
    sleep(Duration::from_millis(150)).await;
    drop(held);
    eventually("the replacement is handed over", || {
        pool.status().in_use == 1
    })
    .await;
    release.send(()).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), 2);
    assert_eq!(counters.live(), 1);
}

#[tokio::test]
async fn jitter_shortens_lifetimes() {
    let mut cfg = config(20);
    cfg.max_lifetime = Some(Duration::from_millis(600));
    cfg.lifetime_jitter = Duration::from_millis(500);
    let (pool, counters) = pool(cfg);
    let mut conns = Vec::new();
    for _ in 0..20 {
        conns.push(pool.get().await.unwrap());
    }
    sleep(Duration::from_millis(350)).await;
    drop(conns);
    // Lifetimes are spread over 100..=600 ms: after 350 ms some, not all, have expired.
    let live = counters.live();
    assert!(live > 0 && live < 20, "{live} of 20 survived");
}

#[tokio::test]
async fn maintenance_closes_idle_connections_but_keeps_min_idle() {
    let mut cfg = config(5);
    cfg.min_idle = 2;
    cfg.idle_timeout = Some(Duration::from_millis(250));
    let (pool, counters) = pool(cfg);
    let conns: Vec<_> = checkout_n(&pool, 4).await;
    drop(conns);
    assert_eq!(pool.status().idle, 4);
    let task = pool.spawn_maintenance(Duration::from_millis(20));
    sleep(Duration::from_millis(60)).await;
    assert_eq!(pool.status().idle, 4, "closed before the idle timeout");
    eventually("idle connections are closed", || pool.status().idle == 2).await;
    sleep(Duration::from_millis(200)).await;
    let s = pool.status();
    assert_eq!((s.size, s.idle), (2, 2));
    assert_eq!(counters.live(), 2);
    assert_eq!(counters.connects(), 4);
    pool.close();
    timeout(Duration::from_secs(1), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn maintenance_tops_up_min_idle_and_replaces_expired() {
    let mut cfg = config(5);
    cfg.min_idle = 3;
    cfg.max_lifetime = Some(Duration::from_millis(150));
    let (pool, counters) = pool(cfg);
    let _task = pool.spawn_maintenance(Duration::from_millis(20));
    eventually("min_idle is reached", || pool.status().idle == 3).await;
    sleep(Duration::from_millis(60)).await;
    assert_eq!(pool.status().size, 3, "no overshoot");
    // Expired idle connections are closed and replaced without any checkout.
    eventually("expired ones are replaced", || counters.connects() >= 6).await;
    eventually("back to min_idle", || pool.status().idle == 3).await;
    assert!(counters.live() <= 5);
}

#[tokio::test]
async fn maintenance_stops_when_the_pool_is_dropped() {
    let (pool, _) = pool(config(1));
    let task = pool.spawn_maintenance(Duration::from_millis(10));
    drop(pool);
    timeout(Duration::from_secs(1), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shrinking_closes_surplus_idle_now_and_in_use_on_return() {
    let (pool, counters) = pool(config(3));
    drop(checkout_n(&pool, 3).await);
    assert_eq!(pool.status().idle, 3);
    let mut cfg = config(1);
    pool.set_config(cfg.clone());
    assert_eq!(pool.status().size, 1);
    assert_eq!(counters.live(), 1);

    cfg.max_size = 3;
    pool.set_config(cfg.clone());
    let mut conns = checkout_n(&pool, 3).await;
    cfg.max_size = 1;
    pool.set_config(cfg);
    assert_eq!(
        pool.status().in_use,
        3,
        "in-use connections are not touched"
    );
    conns.pop();
    assert_eq!(pool.status().size, 2);
    conns.pop();
    assert_eq!(pool.status().size, 1);
    conns.pop();
    let s = pool.status();
    assert_eq!((s.size, s.idle), (1, 1));
    assert_eq!(counters.live(), 1);
}

#[tokio::test]
async fn growing_serves_waiters_with_new_connections() {
    let (pool, counters) = pool(config(1));
    let held = pool.get().await.unwrap();
    let (waiter, release) = spawn_holder(&pool);
    wait_for_queue(&pool, 1).await;
    pool.set_config(config(2));
    eventually("the waiter is served", || pool.status().waiting == 0).await;
    release.send(()).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), 2);
    assert_eq!(counters.connects(), 2);
    drop(held);
    assert_eq!(pool.status().idle, 2);
}

#[tokio::test]
async fn close_drains_the_pool() {
    let (pool, counters) = pool(config(2));
    let held = pool.get().await.unwrap();
    drop(pool.get().await.unwrap());
    let held2 = pool.get().await.unwrap();
    drop(held2);
    assert_eq!(pool.status().idle, 1);

    pool.close();
    assert!(pool.is_closed());
    assert_eq!(counters.live(), 1, "idle connection closed at once");
    assert!(matches!(pool.get().await, Err(PoolError::Closed)));
    drop(held);
    assert_eq!(counters.live(), 0, "returned connection closed");
    assert_eq!(pool.status(), Default::default());
}

#[tokio::test]
async fn close_fails_waiters_and_pending_connects() {
    let (pool, counters) = pool(config(2));
    let held = pool.get().await.unwrap();
    counters.delay_ms.store(100, Ordering::SeqCst);
    let p = pool.clone();
    let connecting = tokio::spawn(async move { p.get().await.map(|c| c.id) });
    eventually("the connect starts", || pool.status().opening == 1).await;
    let (waiter, _keep) = spawn_holder(&pool);
    wait_for_queue(&pool, 1).await;

    pool.close();
    assert!(matches!(waiter.await.unwrap(), Err(PoolError::Closed)));
    assert!(matches!(connecting.await.unwrap(), Err(PoolError::Closed)));
    drop(held);
    assert_eq!(counters.live(), 0);
    assert_eq!(pool.status(), Default::default());
}

#[test]
fn guard_can_be_dropped_outside_a_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (pool, counters) = pool(config(1));
    let conn = rt.block_on(pool.get()).unwrap();
    drop(conn);
    assert_eq!(pool.status().idle, 1);
    let conn = rt.block_on(pool.get()).unwrap();
    conn.discard();
    assert_eq!(counters.live(), 0);
    assert_eq!(pool.status().size, 0);
}

/// Checks out `n` connections, held together.
async fn checkout_n(pool: &TestPool, n: usize) -> Vec<PooledConnection<FakeManager>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(pool.get().await.unwrap());
    }
    conns
}

#[tokio::test]
async fn retired_connection_is_closed_on_return_and_replaced_ahead() {
    let (pool, counters) = pool(config(2));
    let c = pool.get().await.unwrap();
    assert_eq!(c.id, 1);
    counters.retire_up_to.store(1, Ordering::SeqCst);
    drop(c);
    // The replacement is opened in the background, before anyone asks for it.
    eventually("replacement opened", || {
        counters.connects() == 2 && pool.status().idle == 1
    })
    .await;
    assert_eq!(counters.live(), 1);
    assert_eq!(pool.get().await.unwrap().id, 2);
}

#[tokio::test]
async fn retired_idle_connection_is_skipped_by_get_and_maintenance() {
    let (pool, counters) = pool(config(3));
    let held = checkout_n(&pool, 2).await;
    drop(held);
    assert_eq!(pool.status().idle, 2);
    counters.retire_up_to.store(1, Ordering::SeqCst);
    pool.spawn_maintenance(Duration::from_millis(10));
    eventually("retired idle closed", || counters.live() == 1).await;
    counters.retire_up_to.store(2, Ordering::SeqCst);
    let c = pool.get().await.unwrap();
    assert_eq!(c.id, 3, "a retired idle connection was handed out");
}

#[tokio::test]
async fn sharded_pool_lends_across_shards_and_caps_the_total() {
    let counters = Arc::new(Counters::default());
    let mut cfg = config(2);
    cfg.checkout_timeout = Duration::from_millis(200);
    let pool = ShardedPool::new(FakeManager(Arc::clone(&counters)), cfg, 2);
    assert_eq!(pool.shards().len(), 2);
    // Off the workers every caller belongs to shard 0, whose share is one connection:
    // the second checkout borrows the other shard's share instead of waiting.
    let a = pool.get().await.unwrap();
    let b = timeout(Duration::from_secs(1), pool.get())
        .await
        .expect("the second checkout waited although a shard had room")
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(pool.status().in_use, 2);
    // The total stays at the configured size: a third caller waits and times out.
    assert!(matches!(pool.get().await, Err(PoolError::Timeout(_))));
    assert_eq!(counters.connects(), 2);
    // A connection borrowed from shard 1 goes back there and is lent again.
    drop(b);
    let c = pool.get().await.unwrap();
    assert_eq!(counters.connects(), 2, "an idle connection was not reused");
    drop((a, c));
    assert_eq!(pool.status().idle, 2);
}

#[tokio::test]
async fn a_waiter_takes_a_connection_freed_in_another_shard() {
    let counters = Arc::new(Counters::default());
    let mut cfg = config(2);
    cfg.checkout_timeout = Duration::from_secs(5);
    let pool = Arc::new(ShardedPool::new(FakeManager(Arc::clone(&counters)), cfg, 2));
    // Shard 0's connection is held for long (a transaction); shard 1's is in use too.
    let held = pool.get().await.unwrap();
    let borrowed = pool.get().await.unwrap();
    let waiter = tokio::spawn({
        let pool = Arc::clone(&pool);
        async move { pool.get().await.map(|c| c.id) }
    });
    sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.status().waiting, 1);
    // Shard 1's connection comes back: the waiter queued in shard 0 takes it at once
    // instead of waiting for its own shard.
    let freed_id = borrowed.id;
    drop(borrowed);
    let got = timeout(Duration::from_secs(1), waiter)
        .await
        .expect("the waiter ignored a connection freed in the other shard")
        .unwrap()
        .unwrap();
    assert_eq!(got, freed_id);
    assert_eq!(
        pool.status().waiting,
        0,
        "the waiter stayed queued in its shard"
    );
    drop(held);
    assert_eq!(counters.connects(), 2);
}

#[tokio::test]
async fn retain_idle_closes_the_idle_connections_refused_and_no_checked_out_one() {
    let (pool, counters) = pool(config(3));
    let first = pool.get().await.unwrap();
    let second = pool.get().await.unwrap();
    let held = pool.get().await.unwrap();
    assert_eq!((first.id, second.id, held.id), (1, 2, 3));
    drop((first, second));
    // Only connection 2 is to be kept; connection 3 is in use and is not asked about.
    let closed = pool.retain_idle(|c| {
        assert_ne!(c.id, 3, "a checked-out connection was offered");
        c.id == 2
    });
    assert_eq!(closed, 1);
    assert_eq!(counters.live(), 2);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (2, 1, 1));
    assert_eq!(pool.get().await.unwrap().id, 2);
    drop(held);
    assert_eq!(
        pool.status().idle,
        2,
        "the checked-out one came back as usual"
    );
}

#[tokio::test]
async fn sharded_retain_idle_covers_every_shard_and_frees_their_room() {
    let counters = Arc::new(Counters::default());
    let pool = ShardedPool::new(FakeManager(Arc::clone(&counters)), config(2), 2);
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    drop((a, b));
    assert_eq!(pool.status().idle, 2);
    assert_eq!(pool.retain_idle(|_| false), 2);
    assert_eq!(counters.live(), 0);
    assert_eq!(pool.status(), Default::default());
    // Both slots are free again.
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    assert_eq!((a.id, b.id), (3, 4));
}

#[test]
fn sharded_pool_splits_small_pools_into_fewer_shards() {
    let pool = ShardedPool::new(FakeManager(Arc::default()), config(1), 4);
    assert_eq!(pool.shards().len(), 1);
    let pool = ShardedPool::new(FakeManager(Arc::default()), config(3), 8);
    assert_eq!(pool.shards().len(), 3);
}

#[tokio::test]
async fn a_connection_held_by_a_panicking_task_is_closed_not_reused() {
    let (pool, counters) = pool(config(1));
    let held = pool.clone();
    let task = tokio::spawn(async move {
        let _conn = held.get().await.unwrap();
        panic!("a session failed mid-use");
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(counters.live(), 0, "the connection was kept");
    // The slot is free again: the next checkout opens a new connection.
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 2);
}

#[tokio::test]
async fn reconnect_closes_idle_connections_now_and_checked_out_ones_on_return() {
    let (pool, counters) = pool(config(3));
    let idle = pool.get().await.unwrap();
    let held = pool.get().await.unwrap();
    assert_eq!((idle.id, held.id), (1, 2));
    drop(idle);
    assert_eq!(pool.reconnect(), 1);
    assert_eq!(counters.live(), 1);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (1, 0, 1));
    // The checked-out one is closed when it comes back, and a new one is opened.
    drop(held);
    assert!(timeout(Duration::from_secs(2), async {
        while counters.connects() < 3 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .is_ok());
    let next = pool.get().await.unwrap();
    assert_eq!(next.id, 3);
    // Connections opened after RECONNECT stay.
    drop(next);
    assert_eq!(pool.status().idle, 1);
}
