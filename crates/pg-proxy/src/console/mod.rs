//! The admin console: a virtual database (`sluice`, or `pgbouncer` as PgBouncer's
//! tools expect) on the PostgreSQL listener where admin and stats users run SHOW
//! commands and operations in PostgreSQL's simple query protocol. It has no route
//! and no pool; what it shows and does comes from a [`ConsoleBackend`], which the
//! binary implements over every protocol's routes.

mod backend;
mod command;
mod connection_views;
mod result_set;
mod session;
mod views;

pub use backend::{ConfigRow, ConsoleBackend, ConsoleFuture, RouteRow};
pub use command::{parse, Command, ParseError, View};
pub use session::{serve, ConsoleRole};

/// The names a client gives as its database to reach the console.
pub const CONSOLE_DATABASES: [&str; 2] = ["sluice", "pgbouncer"];

/// Whether `database` names the admin console rather than a route.
pub fn is_console_database(database: &str) -> bool {
    CONSOLE_DATABASES.contains(&database)
}
