use super::*;
use crate::sql::trusted::TrustedFunctions;
use crate::state::pin::Refusal;

fn set(name: &str, v: &str) -> SessionCommand {
    SessionCommand::Set {
        name: name.into(),
        value: SettingValue::Sql(v.into()),
    }
}

fn commands(sql: &str) -> Vec<SessionCommand> {
    let effects = classify_query(sql, false, &TrustedFunctions::default());
    assert_eq!(effects.pin, None, "{sql} pinned");
    effects.commands
}

fn pin_of(sql: &str) -> Option<PinReason> {
    classify_query(sql, false, &TrustedFunctions::default()).pin
}

#[test]
fn set_forms_are_movable() {
    assert_eq!(
        commands("set search_path to acc_s, public"),
        [set("search_path", "acc_s, public")]
    );
    assert_eq!(
        commands("SET SESSION statement_timeout = '5s'"),
        [set("statement_timeout", "'5s'")]
    );
    assert_eq!(commands("SET TIME ZONE 'UTC'"), [set("timezone", "'UTC'")]);
    assert_eq!(
        commands("set names 'UTF8'"),
        [set("client_encoding", "'UTF8'")]
    );
    assert_eq!(commands("set\tschema 'app'"), [set("search_path", "'app'")]);
    assert_eq!(
        commands("SET myapp.User_Id = 7"),
        [set("myapp.user_id", "7")]
    );
    assert_eq!(commands("set \"Quoted\".x to 1"), [set("Quoted.x", "1")]);
    assert_eq!(
        commands("set work_mem to default"),
        [SessionCommand::Reset {
            name: "work_mem".into()
        }]
    );
    assert_eq!(
        commands("set time zone local"),
        [SessionCommand::Reset {
            name: "timezone".into()
        }]
    );
    // Until the end of the transaction only: nothing follows the client.
    assert_eq!(commands("SET LOCAL work_mem = '1MB'"), []);
    assert_eq!(commands("SET LOCAL ROLE other"), []);
    assert_eq!(commands("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"), []);
    assert_eq!(commands("set constraints all deferred"), []);
}

#[test]
fn reset_and_discard_forms() {
    assert_eq!(commands("RESET ALL"), [SessionCommand::ResetAll]);
    assert_eq!(
        commands("/* c */ reset Work_Mem"),
        [SessionCommand::Reset {
            name: "work_mem".into()
        }]
    );
    assert_eq!(
        commands("reset time zone"),
        [SessionCommand::Reset {
            name: "timezone".into()
        }]
    );
    assert_eq!(commands("RESET ROLE"), []);
    assert_eq!(commands("reset session authorization"), []);
    assert_eq!(commands("discard all"), [SessionCommand::DiscardAll]);
    assert_eq!(commands("discard plans"), []);
    assert_eq!(commands("DISCARD TEMP"), []);
}

#[test]
fn statements_split_outside_quotes_comments_and_dollar_quotes() {
    assert_eq!(
        commands("select ';'; set a.b = 'x;y'; select $$;$$; discard all"),
        [set("a.b", "'x;y'"), SessionCommand::DiscardAll]
    );
    assert_eq!(
        commands("DEALLOCATE PREPARE \"S1\""),
        [SessionCommand::Deallocate { name: "S1".into() }]
    );
    assert_eq!(
        commands("deallocate _pg3_0"),
        [SessionCommand::Deallocate {
            name: "_pg3_0".into()
        }]
    );
    assert_eq!(commands("deallocate all"), [SessionCommand::DeallocateAll]);
    assert_eq!(commands("select 'set x to 1', \"set x to 2\""), []);
}

#[test]
fn role_and_authorization_pin_however_written() {
    for sql in [
        "SET ROLE admin",
        "set\trole admin",
        "SET\nROLE\n admin",
        "set/**/role admin",
        "set -- comment\n role admin",
        "SET SESSION ROLE admin",
        "set role = admin",
        "SET \"role\" TO admin",
        "select 1; set role admin",
    ] {
        assert_eq!(pin_of(sql), Some(PinReason::SetRole), "{sql}");
    }
    for sql in [
        "SET SESSION AUTHORIZATION other",
        "set session_authorization = other",
    ] {
        assert_eq!(pin_of(sql), Some(PinReason::SessionAuthorization), "{sql}");
    }
    assert_eq!(
        pin_of("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"),
        Some(PinReason::SessionCharacteristics)
    );
}

#[test]
fn strings_the_old_scanner_misread_do_not_hide_a_statement() {
    // An E'' string with an escaped quote, then a SET: the SET is found.
    assert_eq!(
        commands(r"select E'it\'s'; set search_path = evil"),
        [set("search_path", "evil")]
    );
    // A nested comment that ends twice.
    assert_eq!(
        pin_of("/* a /* b */ set role x; */ set role y"),
        Some(PinReason::SetRole)
    );
    assert_eq!(commands("/* a /* b */ set role x; */ select 1"), []);
    // With standard_conforming_strings off, a backslash escapes the quote.
    let none = TrustedFunctions::default();
    let off = classify_query(r"select 'a\'; set role x; '", true, &none);
    assert_eq!(off.pin, None);
    let on = classify_query(r"select 'a\'; set role x; '", false, &none);
    assert_eq!(on.pin, Some(PinReason::SetRole));
}

#[test]
fn set_config_pins_unless_local() {
    for sql in [
        "select set_config('search_path', 'x', false)",
        "SELECT pg_catalog.set_config('a.b', 'c', false)",
        "select SET_CONFIG('a.b', 'c', $1)",
        "select set_config('a.b', 'c', (select false))",
    ] {
        assert_eq!(pin_of(sql), Some(PinReason::SessionFunction), "{sql}");
    }
    for sql in [
        "select set_config('a.b', 'c', true)",
        "select set_config('a.b', 'c', 't')",
        "select set_config('a.b', lower('C'), TRUE)",
    ] {
        assert_eq!(pin_of(sql), None, "{sql}");
    }
}

#[test]
fn temporary_objects_pin_unless_dropped_at_commit() {
    for sql in [
        "create temp table t (a int)",
        "CREATE TEMPORARY TABLE t AS SELECT 1",
        "create local temporary table t (a int)",
        "create or replace temp view v as select 1",
        "select * into temp t from x",
        "create table pg_temp.t (a int)",
        "create table \"pg_temp\".t (a int)",
        "create table PG_TEMP_3.t (a int)",
        "CREATE TEMP TABLE t (a int) ON COMMIT DELETE ROWS",
        "set search_path = pg_temp, public",
        "set search_path to \"pg_temp\"",
        "SET search_path TO 'pg_temp, public'",
        "set schema 'pg_temp'",
    ] {
        assert_eq!(pin_of(sql), Some(PinReason::TemporaryObject), "{sql}");
    }
    for sql in [
        "create temp table t (a int) on commit drop",
        "select temp from readings",
        "create table temps (temp int)",
        "create table pg_temporal.t (a int)",
        "create table \"PG_TEMP\".t (a int)",
        "select * from pg_temp_x.t",
    ] {
        assert_eq!(pin_of(sql), None, "{sql}");
    }
    // An ordinary search_path is movable.
    for sql in ["set search_path = app, public", "set search_path to 'app'"] {
        let effects = classify_query(sql, false, &TrustedFunctions::default());
        assert_eq!(effects.pin, None, "{sql}");
        assert_eq!(effects.commands.len(), 1, "{sql}");
    }
}

#[test]
fn advisory_locks_pin_at_session_level_only() {
    for sql in [
        "select pg_advisory_lock(1)",
        "SELECT pg_try_advisory_lock(1, 2)",
        "select 1 from t where pg_advisory_lock_shared(id) is not null",
    ] {
        assert_eq!(pin_of(sql), Some(PinReason::AdvisoryLock), "{sql}");
    }
    assert_eq!(pin_of("select pg_advisory_xact_lock(1)"), None);
    assert_eq!(pin_of("select pg_advisory_unlock(1)"), None);
}

#[test]
fn other_unmovable_statements_pin() {
    assert_eq!(pin_of("LISTEN chan"), Some(PinReason::Listen));
    assert_eq!(pin_of("select 1; Listen x"), Some(PinReason::Listen));
    assert_eq!(pin_of("PREPARE p AS SELECT 1"), Some(PinReason::SqlPrepare));
    assert_eq!(pin_of("execute p"), Some(PinReason::SqlPrepare));
    assert_eq!(pin_of("PREPARE TRANSACTION 'x'"), None);
    assert_eq!(
        pin_of("DECLARE c CURSOR WITH HOLD FOR SELECT 1"),
        Some(PinReason::HoldCursor)
    );
    assert_eq!(pin_of("declare c cursor for select 1"), None);
    assert_eq!(pin_of("LOAD 'auto_explain'"), Some(PinReason::Load));
    assert_eq!(
        pin_of("DO $$ BEGIN END $$"),
        Some(PinReason::UnknownFunction)
    );
    assert_eq!(pin_of("call my_proc()"), Some(PinReason::UnknownFunction));
    assert_eq!(pin_of("select 'unterminated"), Some(PinReason::Unreadable));
    assert_eq!(pin_of("set work_mem"), Some(PinReason::Unreadable));
    assert_eq!(
        pin_of("select setseed(0.5)"),
        Some(PinReason::SessionFunction)
    );
    // Named so, or inside a string or comment: nothing.
    for sql in [
        "select listener from t",
        "select 'listen x'",
        "-- listen x\nselect 1",
        "select $$ set role x $$",
        "unlisten *",
    ] {
        assert_eq!(pin_of(sql), None, "{sql}");
    }
}

#[test]
fn functions_it_does_not_know_pin() {
    for sql in [
        "select my_func(1)",
        "select app.do_things()",
        "select * from some_schema.f(1)",
        "select \"MyFunc\"()",
        "select now(), app.f()",
        "select * from t join lateral my_srf(t.id) on true",
        "explain analyze select my_func()",
        "create table t as select my_func()",
        // Run as the statement runs: an index's expressions and predicate, a
        // partition's bounds.
        "create index on t (my_func(a))",
        "create unique index i on t (a) where my_pred(a)",
        "create table p1 partition of p for values in (my_func())",
        "create table p2 partition of p for values from (my_lo()) to (10)",
        // A column definition list after a call is no CTE: the second call is one too.
        "select * from a() as x (n int), my_func() as (b int)",
        "select * from generate_series(1, 2) as (n int), my_func() as (b int)",
    ] {
        assert_eq!(pin_of(sql), Some(PinReason::UnknownFunction), "{sql}");
    }
}

#[test]
fn ordinary_queries_pin_nothing() {
    for sql in [
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
        "select count(*), coalesce(max(a), 0), now() from t where b in (1, 2)",
        "SELECT pg_catalog.lower(x), \"lower\"(y) FROM t",
        "insert into t (a, b) values (1, 2) on conflict (a) do update set b = excluded.b",
        "insert into app.t (a) select generate_series(1, 10)",
        "update t set (a, b) = (1, 2) where exists (select 1 from u)",
        "with recursive r (n) as (select 1 union all select n + 1 from r) select * from r",
        "with a as (select 1), b (x) as materialized (select 2) select * from a, b",
        "select cast(x as varchar(10)), x::numeric(10, 2), y::decimal(5, 1) from t",
        "select extract(epoch from now()), substring(s from 1 for 2), trim(both ' ' from s)",
        "select count(*) filter (where a) over (partition by b order by c) from t",
        "create table t (id uuid default my_uuid(), n varchar(10), check (n <> ''))",
        "create index on t (lower(name))",
        "create index concurrently if not exists i on only t using btree (lower(a), (b + 1)) include (c)",
        "create function f(a int) returns int language sql as $$ select set_config('a.b', 'c', false)::int $$",
        "drop function if exists f(int)",
        "alter table t add constraint c foreign key (a) references u (id)",
        "copy t (a, b) from stdin",
        "COPY (select 1) TO STDOUT",
        "explain (analyze, buffers) select 1",
        "vacuum (verbose) t",
        "select * from json_to_record('{}') as x(a int)",
        "begin; commit; rollback; savepoint s; release s",
        "NOTIFY chan, 'x'",
        "select pg_notify('chan', 'x')",
        "select nextval('s'), currval('s')",
        "",
        ";;",
    ] {
        assert_eq!(pin_of(sql), None, "{sql}");
    }
}

#[test]
fn trusted_functions_do_not_pin() {
    let trusted = TrustedFunctions::parse(&["uuid_generate_v4", "postgis.*"]).unwrap();
    let pin = |sql: &str| classify_query(sql, false, &trusted).pin;
    assert_eq!(pin("insert into t values (uuid_generate_v4())"), None);
    assert_eq!(pin("select postgis.st_distance(a, b) from t"), None);
    // Trust does not reach other names, nor the built-in ones that pin.
    assert_eq!(
        pin("select st_distance(a, b) from t"),
        Some(PinReason::UnknownFunction)
    );
    assert_eq!(
        pin("select other.uuid_generate_v4()"),
        Some(PinReason::UnknownFunction)
    );
    assert_eq!(
        pin("select pg_advisory_lock(1)"),
        Some(PinReason::AdvisoryLock)
    );
}

#[test]
fn other_clients_statements_are_refused() {
    let refusal = |sql: &str| classify_query(sql, false, &TrustedFunctions::default()).refuse;
    for sql in [
        "select name, statement from pg_prepared_statements",
        "SELECT * FROM pg_catalog.PG_PREPARED_STATEMENTS",
        "select * from \"pg_prepared_statements\"",
        "select pg_catalog.pg_prepared_statement()",
    ] {
        assert_eq!(refusal(sql), Some(Refusal::SharedStatementsView), "{sql}");
    }
    for sql in [
        "execute sluice_0123456789abcdef_1",
        "DEALLOCATE PREPARE Sluice_x",
        "deallocate \"sluice_x\"",
        "prepare sluice_mine as select 1",
        "explain execute sluice_x",
    ] {
        assert_eq!(refusal(sql), Some(Refusal::ReservedStatementName), "{sql}");
    }
    for sql in [
        "select 'pg_prepared_statements'",
        "-- pg_prepared_statements\nselect 1",
        "execute my_statement",
        "deallocate all",
    ] {
        assert_eq!(refusal(sql), None, "{sql}");
    }
}

/// Not a test: `cargo test --release -p pg-proxy --lib classification_cost -- --ignored
/// --nocapture` prints what classifying pgbench's query costs.
#[test]
#[ignore]
fn classification_cost() {
    let none = TrustedFunctions::default();
    let sql = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;";
    let n = 2_000_000;
    let started = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(classify_query(std::hint::black_box(sql), false, &none));
    }
    println!("{:?} per query", started.elapsed() / n);
}

#[test]
fn review_cases_that_hid_state_or_panicked() {
    // A statement name of multi-byte letters (the reserved-name check sliced a str).
    assert_eq!(
        pin_of("PREPARE 検索文 AS SELECT 1"),
        Some(PinReason::SqlPrepare)
    );
    assert_eq!(pin_of("EXECUTE 検索"), Some(PinReason::SqlPrepare));
    // Setting names match in any case, quoted or not.
    assert_eq!(pin_of("SET \"ROLE\" TO admin"), Some(PinReason::SetRole));
    assert_eq!(
        pin_of("set \"Session_Authorization\" = x"),
        Some(PinReason::SessionAuthorization)
    );
    // Built-in functions that run the SQL text they are given.
    for sql in [
        "select query_to_xml('select set_config(''role'', ''x'', false)', false, false, '')",
        "select * from ts_stat('select pg_advisory_lock(1)')",
    ] {
        assert_eq!(pin_of(sql), Some(PinReason::UnknownFunction), "{sql}");
    }
    // A column definition list read like a CTE's column list hides no session function.
    assert_eq!(
        pin_of("select * from json_to_record('{}') as (x int), pg_advisory_lock(1) as (y int)"),
        Some(PinReason::AdvisoryLock)
    );
    // N'..' takes backslash escapes as a plain string does.
    let none = TrustedFunctions::default();
    let hidden = r"select N'\'', set_config('role', 'x', false) -- '";
    assert_eq!(
        classify_query(hidden, true, &none).pin,
        Some(PinReason::SessionFunction)
    );
}

#[test]
fn huge_nested_statements_are_classified_in_linear_time() {
    // Many `, name(` after `)` with unclosed parentheses: the CTE check is bounded.
    // (A quadratic scan of this took minutes; now the test ends at once.)
    let sql = format!("select (1){}", ",lower((1)".repeat(20_000));
    assert_eq!(pin_of(&sql), None);
}
