//! What the console asks of the process it runs in: the routes of every protocol
//! with their pools, and the operations that act on the whole process. The binary
//! implements it, so this crate needs to know nothing of the other protocols.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pool_core::activity::{ClientEntry, ServerEntry};

use pool_core::mode::PoolMode;
use pool_core::pool::PoolStatus;
use pool_core::tally::Totals;
use pool_core::users::Users;

/// An operation that runs to completion before the console answers; the error is
/// the message shown to the operator.
pub type ConsoleFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One route of one protocol, as the console shows it.
#[derive(Debug, Clone)]
pub struct RouteRow {
    /// `postgres` or `mysql`.
    pub protocol: &'static str,
    /// The database name clients ask for.
    pub name: String,
    pub mode: PoolMode,
    /// The pool's counters, summed over its shards and members.
    pub pool: PoolStatus,
    /// Clients connected to the route.
    pub clients: usize,
    /// Whether the route reaches a server that takes its queries.
    pub ready: bool,
    /// Whether PAUSE holds its new transactions.
    pub paused: bool,
    /// Transactions, queries and bytes since the route was built.
    pub totals: Totals,
}

/// One setting, as SHOW CONFIG shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRow {
    /// Its key in the config file (`postgres.max_client_conn`).
    pub key: String,
    pub value: String,
    /// Whether a reload applies a new value.
    pub changeable: bool,
}

pub trait ConsoleBackend: Send + Sync {
    /// Every route of every protocol, ordered by protocol then name.
    fn routes(&self) -> Vec<RouteRow>;

    /// The binary's version and commit, as `sluice --version` prints them.
    fn version(&self) -> &str;

    /// The users file as loaded now.
    fn users(&self) -> Users;

    /// The process-wide settings as loaded now.
    fn config(&self) -> Vec<ConfigRow>;

    /// Holds new checkouts of `database`'s pools (every route's without one) and
    /// returns once none of their server connections is checked out.
    fn pause(&self, database: Option<&str>) -> ConsoleFuture<'_>;

    /// Lets the held checkouts go on.
    fn resume(&self, database: Option<&str>) -> Result<(), String>;

    /// Closes `database`'s idle server connections (every route's without one) and
    /// each checked-out one when it comes back.
    fn reconnect(&self, database: Option<&str>) -> Result<(), String>;

    /// Re-reads the configuration and applies it, as SIGHUP does.
    fn reload(&self) -> ConsoleFuture<'_>;

    /// Starts the drain SIGTERM starts: no new clients, the running ones finish.
    fn shutdown(&self);

    /// Every client session of every protocol, oldest first.
    fn clients(&self) -> Vec<Arc<ClientEntry>>;

    /// Every pooled server connection of every protocol, oldest first.
    fn servers(&self) -> Vec<Arc<ServerEntry>>;

    /// Ends the client session with id `id`: what it runs on its server is stopped,
    /// the client is told, and a transaction it had open is rolled back (or its
    /// server connection closed).
    fn kill_client(&self, id: u64) -> ConsoleFuture<'_>;

    /// PgBouncer's KILL: holds `database`'s new transactions (as PAUSE does, until
    /// RESUME), ends all its client sessions as KILL_CLIENT does and closes its
    /// server connections.
    fn kill(&self, database: &str) -> ConsoleFuture<'_>;
}
