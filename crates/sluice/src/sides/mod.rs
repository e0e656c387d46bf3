//! The protocol sides of the binary, each behind the one [`Side`] trait: what the
//! orchestration (`app`), the drain and the admin listener use without knowing the
//! protocol.

mod assembly;
mod mysql;
mod mysql_routes;
mod postgres;
mod postgres_routes;
mod route_table;
mod side;

pub use mysql::MysqlSide;
pub use postgres::PostgresSide;
pub use side::{RouteHealth, Side, StartContext};
