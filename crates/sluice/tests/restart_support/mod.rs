//! What the rolling-restart tests of both protocols share: clients that run short
//! transactions in a loop through a forwarder standing in for the Service, reconnect
//! when told to go between transactions, and tally what happened to each transaction.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::sluice::{try_http_get, SluiceProcess};
use test_support::RoundRobin;
use tokio::task::JoinHandle;

/// How many clients run transactions during a restart.
pub const CLIENTS: u32 = 12;
/// A client's pause between two transactions.
const THINK_TIME: Duration = Duration::from_millis(5);
/// A client's pause after a connection attempt failed.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// What became of one attempt at a transaction.
pub enum Outcome {
    Committed,
    /// It never began: the client was told to go, or found its connection closed,
    /// between transactions. Why, for the tally (an error code, or "closed").
    NotBegun(String),
    /// An error after BEGIN, or a COMMIT that did not succeed: what must not happen.
    Failed(String),
}

/// A database client of one protocol.
pub trait TxClient: Sized + Send + 'static {
    fn connect(target: String) -> impl Future<Output = Result<Self, String>> + Send;

    /// BEGIN; insert the row (`client`, `n`); read it back; COMMIT.
    fn transaction(&mut self, client: u32, n: u32) -> impl Future<Output = Outcome> + Send;
}

/// What happened to the transactions of one or all clients.
#[derive(Default)]
pub struct Tally {
    pub committed: u64,
    pub failed: Vec<String>,
    /// Reconnections after a transaction could not begin, by why.
    pub reconnects: BTreeMap<String, u64>,
    pub connect_failures: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.committed += other.committed;
        self.failed.extend(other.failed);
        for (why, n) in other.reconnects {
            *self.reconnects.entry(why).or_default() += n;
        }
        self.connect_failures += other.connect_failures;
    }

    pub fn reconnects_for(&self, why: &str) -> u64 {
        self.reconnects.get(why).copied().unwrap_or(0)
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "committed {}, failed {}, reconnects {:?}, failed connection attempts {}",
            self.committed,
            self.failed.len(),
            self.reconnects,
            self.connect_failures
        )
    }
}

/// Clients running transactions until stopped.
pub struct Clients {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<Tally>>,
}

impl Clients {
    /// Starts `CLIENTS` clients connecting to `target`.
    pub fn start<C: TxClient>(target: &str) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..CLIENTS)
            .map(|id| tokio::spawn(client_loop::<C>(id, target.to_owned(), stop.clone())))
            .collect();
        Clients { stop, tasks }
    }

    /// Stops the clients after their transaction under way and sums their tallies.
    pub async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for task in self.tasks {
            tally.add(task.await.expect("a client task panicked"));
        }
        tally
    }
}

async fn client_loop<C: TxClient>(id: u32, target: String, stop: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let mut connection: Option<C> = None;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut client = match connection.take() {
            Some(client) => client,
            None => match C::connect(target.clone()).await {
                Ok(client) => client,
                Err(_) => {
                    tally.connect_failures += 1;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        match client.transaction(id, n).await {
            Outcome::Committed => {
                tally.committed += 1;
                n += 1;
                connection = Some(client);
            }
            Outcome::NotBegun(why) => *tally.reconnects.entry(why).or_default() += 1,
            Outcome::Failed(why) => {
                tally
                    .failed
                    .push(format!("client {id}, transaction {n}: {why}"));
                // Its row may or may not be there: the next one takes a new key.
                n += 1;
            }
        }
        tokio::time::sleep(THINK_TIME).await;
    }
    tally
}

/// Polls `f` every 50 ms until it holds; panics with `what` after `limit`.
pub async fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM to `sluice`, then waits until `/readyz` says unready (or the admin
/// listener is gone: with nothing to wait for, the drain may be over already) and its
/// client listener on `port` refuses connections.
pub async fn terminate(sluice: &SluiceProcess, port: u16) {
    assert_eq!(sluice.admin_get("/readyz").0, 200);
    sluice.signal("TERM");
    until(Duration::from_secs(10), "/readyz stayed ready", || {
        try_http_get(sluice.admin_port, "/readyz").map_or(true, |(code, _)| code == 503)
    })
    .await;
    until(
        Duration::from_secs(10),
        "new clients still accepted",
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
    )
    .await;
}

/// A rolling restart under load: `CLIENTS` clients of type `C` run transactions
/// through a round-robin forwarder over the replicas' client ports (`port`), reaching
/// it at the address `target` makes of the forwarder's port, while the replicas are
/// restarted one after another: SIGTERM (`terminate`), its exit, then `again` starts
/// its successor on the same ports, and a pause lets the clients spread over it.
/// Returns what happened to the transactions, and the forwarder.
pub async fn rolling_restart<C: TxClient, R: DerefMut<Target = SluiceProcess>>(
    replicas: &mut [R],
    port: impl Fn(&R) -> u16,
    target: impl Fn(u16) -> String,
    mut again: impl FnMut(&R) -> R,
) -> (Tally, RoundRobin) {
    let ports: Vec<u16> = replicas.iter().map(&port).collect();
    let service = RoundRobin::start_loopback(&ports).await.unwrap();
    let clients = Clients::start::<C>(&target(service.port()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    for replica in replicas.iter_mut() {
        terminate(replica, port(replica)).await;
        assert_eq!(replica.wait_exit(Duration::from_secs(30)), Some(true));
        *replica = again(replica);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    (clients.stop().await, service)
}

/// Prints the counts of a rolling restart and checks them: no transaction failed,
/// clients were told to go with `told` (an error code), and the table holds `rows`,
/// one per committed transaction.
pub fn check(protocol: &str, tally: &Tally, service: &RoundRobin, told: &str, rows: u64) {
    println!(
        "{protocol} rolling restart: {tally}; connections per replica {:?}",
        service.forwarded()
    );
    assert!(
        tally.failed.is_empty(),
        "failed transactions: {:#?}",
        tally.failed
    );
    assert!(tally.reconnects_for(told) > 0, "{tally}");
    assert_eq!(rows, tally.committed);
}
