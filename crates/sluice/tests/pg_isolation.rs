//! Tenant isolation in transaction mode, against a real PostgreSQL: what one client
//! leaves in its session stays with it (it keeps its server connection, or sluice
//! carries the setting), and the next client on that server connection finds a clean
//! session. A route of one server connection makes consecutive clients share it.

mod common;

use common::*;

/// One kind of session state: what the first client runs, what shows it kept the state
/// in a later transaction, and what the next client on the same server connection sees.
struct Case {
    name: &'static str,
    setup: &'static str,
    check: &'static str,
    held: &'static str,
    clean: String,
    /// The reason label of `sluice_clients_pinned_total` and the clients counted under
    /// it once the case ran, or None for movable state.
    pins: Option<(&'static str, f64)>,
}

/// The first column of the last row `sql` returns, or `error <SQLSTATE>`.
async fn answer(client: &tokio_postgres::Client, sql: &str) -> String {
    match client.simple_query(sql).await {
        Ok(messages) => messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).unwrap_or("NULL").to_owned())
                }
                _ => None,
            })
            .next_back()
            .unwrap_or_default(),
        Err(e) => format!("error {}", sqlstate(&e)),
    }
}

fn cases() -> Vec<Case> {
    let advisory = "select count(*) from pg_locks where locktype = 'advisory'";
    vec![
        Case {
            name: "SET ROLE written with a tab",
            setup: "SET\tROLE sluice_other",
            check: "select current_user",
            held: "sluice_other",
            clean: DB_USER.to_owned(),
            pins: Some(("set_role", 1.0)),
        },
        Case {
            name: "set_config(..., false)",
            setup: "select set_config('work_mem', '7MB', false)",
            check: "show work_mem",
            held: "7MB",
            clean: "4MB".into(),
            pins: Some(("session_function", 1.0)),
        },
        Case {
            name: "a SET after an escape string with an escaped quote",
            setup: r"select E'it\'s'; set work_mem = '9MB'",
            check: "show work_mem",
            held: "9MB",
            clean: "4MB".into(),
            pins: None,
        },
        Case {
            name: "a temporary table that shadows a real one",
            setup: "create temp table accounts (n int)",
            check: "select count(*) from accounts",
            held: "0",
            clean: "3".into(),
            pins: Some(("temporary_object", 1.0)),
        },
        Case {
            name: "a session-level advisory lock",
            setup: "select pg_advisory_lock(42)",
            check: advisory,
            held: "1",
            clean: "0".into(),
            pins: Some(("advisory_lock", 1.0)),
        },
        Case {
            name: "an SQL-level prepared statement",
            setup: "prepare p as select 42",
            check: "execute p",
            held: "42",
            clean: "error 26000".into(),
            // The next client's EXECUTE pins it too.
            pins: Some(("sql_prepare", 2.0)),
        },
        Case {
            name: "a cursor WITH HOLD",
            setup: "declare c cursor with hold for select 7",
            check: "fetch c",
            held: "7",
            clean: "error 34000".into(),
            pins: Some(("hold_cursor", 1.0)),
        },
        Case {
            name: "a function of the app's that sets a setting",
            setup: "select app_login('alice')",
            check: "select coalesce(current_setting('app.user', true), '')",
            held: "alice",
            clean: String::new(),
            pins: Some(("unknown_function", 1.0)),
        },
        Case {
            name: "SET SESSION CHARACTERISTICS",
            setup: "set session characteristics as transaction read only",
            check: "show default_transaction_read_only",
            held: "on",
            clean: "off".into(),
            pins: Some(("session_characteristics", 1.0)),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_state_reaches_the_next_client() {
    let pg = start_postgres();
    pg.psql(&format!(
        "create role sluice_other; grant sluice_other to {DB_USER}"
    ));
    pg.psql_db(
        "appdb",
        &format!(
            "create table accounts (n int); insert into accounts values (1), (2), (3);
             grant select on accounts to sluice_other;
             create function app_login(who text) returns text language sql
               as $$ select set_config('app.user', who, false) $$;
             alter table accounts owner to {DB_USER}; alter function app_login(text) owner to {DB_USER}"
        ),
    );
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 1,
            ..Default::default()
        },
    );
    for case in cases() {
        let first = sluice.connect().await;
        assert_ne!(
            answer(&first, case.setup).await.split(' ').next(),
            Some("error"),
            "{}: setup failed",
            case.name
        );
        // A later transaction of the same client still has it.
        answer(&first, "select 1").await;
        assert_eq!(answer(&first, case.check).await, case.held, "{}", case.name);
        drop(first);
        // The next client gets the same (only) server connection, clean.
        let next = sluice.connect().await;
        assert_eq!(answer(&next, case.check).await, case.clean, "{}", case.name);
        drop(next);
        if let Some((reason, clients)) = case.pins {
            assert_eq!(
                sluice.metric(
                    "sluice_clients_pinned_total",
                    &format!("reason=\"{reason}\"")
                ),
                Some(clients),
                "{}",
                case.name
            );
        }
    }
    // The movable setting did not pin; one server connection served every client.
    assert_eq!(server_connections(&pg), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_client_keeps_its_server_while_others_wait_their_turn() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            pool_size: 2,
            ..Default::default()
        },
    );
    let pinned = sluice.connect().await;
    answer(&pinned, "select pg_advisory_lock(7)").await;
    let pid = answer(&pinned, "select pg_backend_pid()").await;
    // Others take turns on the other server connection meanwhile.
    let mut others = Vec::new();
    for _ in 0..4 {
        others.push(sluice.connect().await);
    }
    for other in &others {
        assert_ne!(answer(other, "select pg_backend_pid()").await, pid);
    }
    // Every later transaction of the pinned client runs on its own backend.
    for _ in 0..5 {
        assert_eq!(answer(&pinned, "select pg_backend_pid()").await, pid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_app_reaches_only_the_databases_bound_to_it() {
    let pg = start_postgres();
    pg.psql("create database billing");
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            users: format!(
                "[users.{APP_USER}]\npassword = \"{APP_PASSWORD}\"\n\
                 [users.billing]\npassword = \"billing-secret\"\n"
            ),
            databases: vec![("appdb", "appdb"), ("billing", "billing")],
            database_lines: vec![
                ("appdb", format!("users = [\"{APP_USER}\"]")),
                ("billing", "users = [\"billing\"]".into()),
            ],
            ..Default::default()
        },
    );
    // Its own database: in.
    let own = connect(&sluice.conn_str("billing", "billing-secret", "billing")).await;
    assert_eq!(answer(&own, "select current_database()").await, "billing");
    // Another app's, even with the right password for itself: refused before any
    // password exchange, with 28000, as an access rule refuses.
    for (user, password, db) in [
        ("billing", "billing-secret", "appdb"),
        (APP_USER, APP_PASSWORD, "billing"),
    ] {
        let err =
            tokio_postgres::connect(&sluice.conn_str(user, password, db), tokio_postgres::NoTls)
                .await
                .err()
                .unwrap_or_else(|| panic!("{user} reached {db}"));
        assert_eq!(sqlstate(&err), "28000", "{user} → {db}: {err}");
        let message = err.as_db_error().map(|e| e.message().to_owned());
        assert_eq!(
            message.as_deref(),
            Some(format!("user \"{user}\" may not connect to database \"{db}\"").as_str())
        );
    }
    assert!(sluice
        .log()
        .contains("user not bound to the database: user billing, database appdb"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_of_a_trusted_function_does_not_pin() {
    let pg = start_postgres();
    pg.psql_db(
        "appdb",
        &format!(
            "create function app_add(a int, b int) returns int language sql as 'select a + b';
             create function app_mul(a int, b int) returns int language sql as 'select a * b';
             alter function app_add(int, int) owner to {DB_USER};
             alter function app_mul(int, int) owner to {DB_USER}"
        ),
    );
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            extra_database: "trusted_functions = [\"app_add\"]".into(),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    assert_eq!(answer(&c, "select app_add(2, 3)").await, "5");
    let pinned = || sluice.metric("sluice_clients_pinned_total", "protocol=\"postgres\"");
    assert_eq!(pinned(), None, "a trusted function pinned");
    // One it was not told about pins, as sluice cannot tell what it leaves behind.
    assert_eq!(answer(&c, "select app_mul(2, 3)").await, "6");
    assert_eq!(pinned(), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_clients_statements_are_neither_shown_nor_run() {
    let pg = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let other = sluice.connect().await;
    // Another client's prepared statement on the shared server connections.
    let secret = other
        .prepare("select 'another client''s text' where $1::int > 0")
        .await
        .unwrap();
    other.query(&secret, &[&1i32]).await.unwrap();
    let c = sluice.connect().await;
    for sql in [
        "select name, statement from pg_prepared_statements",
        "execute sluice_0123456789abcdef_1",
        "deallocate sluice_0123456789abcdef_1",
    ] {
        assert_eq!(answer(&c, sql).await, "error 42501", "{sql}");
    }
    // The extended protocol too, and the refusal fails the transaction as an error of
    // the server's would.
    c.batch_execute("begin").await.unwrap();
    let err = c
        .query("select statement from pg_prepared_statements", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501");
    assert_eq!(answer(&c, "select 1").await, "error 25P02");
    c.batch_execute("rollback").await.unwrap();
    assert_eq!(answer(&c, "select 1").await, "1");
    // The other client's statement still works.
    assert_eq!(other.query(&secret, &[&1i32]).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_at_most_max_prepared_statements() {
    let pg = start_postgres();
    let sluice = Sluice::start(
        &pg,
        SluiceOptions {
            extra_database: "max_prepared_statements = 3".into(),
            ..Default::default()
        },
    );
    let c = sluice.connect().await;
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(c.prepare(&format!("select {i}")).await.unwrap());
    }
    let err = c.prepare("select 3").await.unwrap_err();
    assert_eq!(sqlstate(&err), "53400", "{err:?}");
    let message = err.as_db_error().unwrap().message();
    assert!(message.contains("max_prepared_statements"), "{message}");
    // As in PostgreSQL, a bad query is reported as such first.
    let err = c.prepare("selec 3").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42601", "{err:?}");
    // The statements held still work, the session goes on, and closing one makes room.
    let row = c.query_one(&held[2], &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
    // A row holds its statement: both go, and the statement is closed.
    drop(row);
    held.pop();
    // The Close goes out with the next request.
    assert_eq!(answer(&c, "select 1").await, "1");
    let s = c.prepare("select 3").await.unwrap();
    assert_eq!(c.query_one(&s, &[]).await.unwrap().get::<_, i32>(0), 3);
    // Another client has its own count.
    let other = sluice.connect().await;
    for i in 0..3 {
        other.prepare(&format!("select {i} + 10")).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_is_no_way_around_the_bindings() {
    let pg = start_postgres();
    let sluice = Sluice::start(&pg, SluiceOptions::default());
    let c = sluice.connect().await;
    assert_eq!(answer(&c, "select 1").await, "1");
    // What it shows holds no password, neither a client's nor the database's.
    for path in ["/metrics", "/readyz", "/healthz"] {
        let (code, body) = sluice.admin_get(path);
        assert_eq!(code, 200, "{path}: {body}");
        assert!(
            !body.contains(APP_PASSWORD) && !body.contains(DB_PASSWORD),
            "{path} shows a password"
        );
    }
    // It takes no commands: only GET of those three paths is answered.
    for path in [
        "/",
        "/clients",
        "/databases/appdb",
        "/reload",
        "/sql?q=select%201",
    ] {
        assert_eq!(sluice.admin_get(path).0, 404, "{path}");
    }
    use std::io::{Read, Write};
    for request in [
        "POST /metrics HTTP/1.1\r\n\r\n",
        "PUT /readyz HTTP/1.1\r\n\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", sluice.admin_port)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 405"), "{request}: {reply}");
    }
}
