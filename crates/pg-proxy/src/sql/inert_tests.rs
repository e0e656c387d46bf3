use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::sql::classify::{classify_query, QueryEffects};
use crate::sql::trusted::TrustedFunctions;

fn full_reading_is_inert(sql: &str) -> bool {
    let trusted = TrustedFunctions::default();
    classify_query(sql, false, &trusted) == QueryEffects::default()
        && classify_query(sql, true, &trusted) == QueryEffects::default()
}

#[test]
fn plain_statements_are_inert() {
    for sql in [
        "SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
        "UPDATE pgbench_accounts SET abalance = abalance + -5 WHERE aid = 7;",
        "INSERT INTO pgbench_history VALUES 1, 2",
        "BEGIN;",
        "END;",
        "commit",
        "select a.b, c::int from t where x <> 1 and y >= 2.5e3 limit 10",
        "select 1; select 2",
        "",
    ] {
        assert!(is_plainly_inert(sql.as_bytes()), "{sql}");
        assert!(full_reading_is_inert(sql), "{sql}");
    }
}

#[test]
fn session_commands_and_markers_need_the_full_reading() {
    for sql in [
        "SET search_path = app",
        "  set x = 1",
        "select 1; SET x = 1",
        "reset all",
        "discard all",
        "LISTEN chan",
        "prepare p as select 1",
        "select 1; execute p",
        "deallocate p",
        "declare c cursor with hold for select 1",
        "create temp table t as select 1",
        "select * into temporary t from u",
        "select * from pg_temp.t",
        "select * from PG_TEMP_3.t",
        "select * from pg_prepared_statements",
        "select count(*) from t",
        "select 'x'",
        "select \"x\" from t",
        "select $1",
        "select 1 -- set x = 1",
        "-- c\nset x = 1",
        "select 1 /* c */",
        "select e\\'x",
        "select café from t",
    ] {
        assert!(!is_plainly_inert(sql.as_bytes()), "{sql}");
    }
}

/// Generated statements from the words and bytes that matter: whenever the quick look
/// says inert, the full classification (either backslash reading) finds nothing.
#[test]
fn agrees_with_the_full_classification() {
    const WORDS: &[&str] = &[
        "select",
        "SET",
        "reset",
        "Discard",
        "all",
        "listen",
        "load",
        "do",
        "call",
        "prepare",
        "execute",
        "deallocate",
        "declare",
        "create",
        "temp",
        "TEMPORARY",
        "into",
        "local",
        "global",
        "on",
        "commit",
        "drop",
        "from",
        "where",
        "update",
        "insert",
        "values",
        "table",
        "pg_temp",
        "pg_temp_2",
        "pg_prepared_statements",
        "sluice_s1",
        "with",
        "hold",
        "as",
        "session",
        "authorization",
        "role",
        "to",
        "1",
        "2.5",
        "1e5",
        "x",
        "t",
        "abalance",
    ];
    const GLUE: &[&str] = &[
        " ", "  ", "\n", ";", "; ", ",", ".", "=", " = ", "::", "-", "--", "*", "<>", "(", ")",
        "'", "$", "\\", "/*", "*/",
    ];
    let mut rng = StdRng::seed_from_u64(17);
    let mut inert = 0;
    for _ in 0..20_000 {
        let mut sql = String::new();
        for _ in 0..rng.gen_range(1..10) {
            sql.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
            let glue = if rng.gen_bool(0.8) {
                " "
            } else {
                GLUE[rng.gen_range(0..GLUE.len())]
            };
            sql.push_str(glue);
        }
        if is_plainly_inert(sql.as_bytes()) {
            inert += 1;
            assert!(
                full_reading_is_inert(&sql),
                "said inert, but is not: {sql:?}"
            );
        }
    }
    // The generator must reach both answers for the check to mean anything.
    assert!(inert > 500, "only {inert} inert statements generated");
    assert!(
        inert < 19_500,
        "{inert} of 20000 inert: too few session commands generated"
    );
}
