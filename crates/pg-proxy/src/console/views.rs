//! The SHOW views: PgBouncer's column names where a column means the same thing in
//! sluice, a `protocol` column since MySQL routes appear too, and no column for what
//! sluice does not track.

use pool_core::mode::PoolMode;
use pool_core::users::Users;

use super::backend::{ConfigRow, RouteRow};
use super::result_set::{int, text, Kind, Table};

pub fn pools(routes: &[RouteRow]) -> Table {
    let columns = [
        ("cl_active", Kind::Int),
        ("cl_waiting", Kind::Int),
        ("sv_active", Kind::Int),
        ("sv_idle", Kind::Int),
        ("sv_login", Kind::Int),
        ("pool_mode", Kind::Text),
    ];
    per_route("database", &columns, routes, |r| {
        // A client waiting for a server is counted once, as waiting.
        let waiting = r.pool.waiting.min(r.clients);
        vec![
            int(r.clients - waiting),
            int(waiting),
            int(r.pool.in_use),
            int(r.pool.idle),
            int(r.pool.opening),
            text(mode_name(r.mode)),
        ]
    })
}

pub fn databases(routes: &[RouteRow]) -> Table {
    let columns = [
        ("pool_mode", Kind::Text),
        ("current_connections", Kind::Int),
        ("current_client_connections", Kind::Int),
        ("paused", Kind::Int),
        ("ready", Kind::Text),
    ];
    per_route("name", &columns, routes, |r| {
        vec![
            text(mode_name(r.mode)),
            int(r.pool.size),
            int(r.clients),
            int(usize::from(r.paused)),
            yes_no(r.ready),
        ]
    })
}

pub fn stats(routes: &[RouteRow]) -> Table {
    let columns = [
        ("total_xact_count", Kind::Int),
        ("total_query_count", Kind::Int),
        ("total_received", Kind::Int),
        ("total_sent", Kind::Int),
    ];
    let n = |v: u64| text(v.to_string());
    per_route("database", &columns, routes, |r| {
        let t = r.totals;
        vec![n(t.transactions), n(t.queries), n(t.received), n(t.sent)]
    })
}

/// A view with one row per route: its name (in the column `name_column`) and
/// protocol, then `columns`.
fn per_route(
    name_column: &'static str,
    columns: &[(&'static str, Kind)],
    routes: &[RouteRow],
    values: impl Fn(&RouteRow) -> Vec<Option<String>>,
) -> Table {
    let mut all = vec![(name_column, Kind::Text), ("protocol", Kind::Text)];
    all.extend_from_slice(columns);
    let mut t = Table::new(&all);
    for r in routes {
        let mut row = vec![text(&r.name), text(r.protocol)];
        row.extend(values(r));
        t.row(row);
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
    for u in users.iter() {
        t.row(vec![text(&u.name), yes_no(u.admin), yes_no(u.stats)]);
    }
    t
}

pub fn config(rows: &[ConfigRow]) -> Table {
    let mut t = Table::new(&[
        ("key", Kind::Text),
        ("value", Kind::Text),
        ("changeable", Kind::Text),
    ]);
    for r in rows {
        t.row(vec![text(&r.key), text(&r.value), yes_no(r.changeable)]);
    }
    t
}

/// `version` as the binary tells it (its version and commit).
pub fn version(version: &str) -> Table {
    let mut t = Table::new(&[("version", Kind::Text)]);
    t.row(vec![text(format!("sluice {version}"))]);
    t
}

fn mode_name(mode: PoolMode) -> &'static str {
    match mode {
        PoolMode::Session => "session",
        PoolMode::Transaction => "transaction",
    }
}

fn yes_no(b: bool) -> Option<String> {
    text(if b { "yes" } else { "no" })
}
