//! The SHOW views: PgBouncer's column names where a column means the same thing in
//! sluice, a `protocol` column since MySQL routes appear too, and no column for what
//! sluice does not track.

use pool_core::mode::PoolMode;
use pool_core::users::Users;

use super::backend::RouteRow;
use super::result_set::{int, text, Kind, Table};

pub fn pools(routes: &[RouteRow]) -> Table {
    let mut t = Table::new(&[
        ("database", Kind::Text),
        ("protocol", Kind::Text),
        ("cl_active", Kind::Int),
        ("cl_waiting", Kind::Int),
        ("sv_active", Kind::Int),
        ("sv_idle", Kind::Int),
        ("sv_login", Kind::Int),
        ("pool_mode", Kind::Text),
    ]);
    for r in routes {
        // A client waiting for a server is counted once, as waiting.
        let waiting = r.pool.waiting.min(r.clients);
        t.row(vec![
            text(&r.name),
            text(r.protocol),
            int(r.clients - waiting),
            int(waiting),
            int(r.pool.in_use),
            int(r.pool.idle),
            int(r.pool.opening),
            text(mode_name(r.mode)),
        ]);
    }
    t
}

pub fn databases(routes: &[RouteRow]) -> Table {
    let mut t = Table::new(&[
        ("name", Kind::Text),
        ("protocol", Kind::Text),
        ("pool_mode", Kind::Text),
        ("current_connections", Kind::Int),
        ("current_client_connections", Kind::Int),
        ("paused", Kind::Int),
        ("ready", Kind::Text),
    ]);
    for r in routes {
        t.row(vec![
            text(&r.name),
            text(r.protocol),
            text(mode_name(r.mode)),
            int(r.pool.size),
            int(r.clients),
            int(usize::from(r.paused)),
            text(if r.ready { "yes" } else { "no" }),
        ]);
    }
    t
}

pub fn lists(routes: &[RouteRow], users: &Users) -> Table {
    let mut t = Table::new(&[("list", Kind::Text), ("items", Kind::Int)]);
    let sum = |f: fn(&RouteRow) -> usize| routes.iter().map(f).sum::<usize>();
    for (list, items) in [
        ("databases", routes.len()),
        ("users", users.len()),
        ("pools", routes.len()),
        ("used_clients", sum(|r| r.clients)),
        ("free_servers", sum(|r| r.pool.idle)),
        ("used_servers", sum(|r| r.pool.in_use)),
        ("login_servers", sum(|r| r.pool.opening)),
    ] {
        t.row(vec![text(list), int(items)]);
    }
    t
}

pub fn users(users: &Users) -> Table {
    let mut t = Table::new(&[
        ("name", Kind::Text),
        ("admin", Kind::Text),
        ("stats", Kind::Text),
    ]);
    let yes_no = |b: bool| text(if b { "yes" } else { "no" });
    for u in users.iter() {
        t.row(vec![text(&u.name), yes_no(u.admin), yes_no(u.stats)]);
    }
    t
}

pub fn version() -> Table {
    let mut t = Table::new(&[("version", Kind::Text)]);
    t.row(vec![text(format!("sluice {}", env!("CARGO_PKG_VERSION")))]);
    t
}

fn mode_name(mode: PoolMode) -> &'static str {
    match mode {
        PoolMode::Session => "session",
        PoolMode::Transaction => "transaction",
    }
}
