//! The client's commands, one concern per file: the dispatcher picks the handler,
//! sluice answers some itself (ping, options, KILL, reset, change user, closing a
//! statement, refused statements), and everything else runs on a server connection.

mod dispatch;
mod forward;
mod kill;
mod local;
mod query;
mod reset;
mod statements;

pub(super) use dispatch::After;
