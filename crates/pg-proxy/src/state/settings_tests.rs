//! Tests of recognising session commands and of replaying settings.

use super::*;

fn set(name: &str, v: &str) -> SessionCommand {
    SessionCommand::Set {
        name: name.into(),
        value: SettingValue::Sql(v.into()),
    }
}

#[test]
fn cheap_prefilter_finds_set_anywhere_in_any_case() {
    for sql in [
        "SET search_path = a",
        "  reset all",
        "DISCARD ALL",
        "Deallocate x",
        "select 1; SeT x = 1",
        "begin;\nsET LOCAL work_mem = '4MB'",
    ] {
        assert!(may_change_session(sql.as_bytes()), "{sql}");
    }
    for sql in [
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
        "select offset_s from t",
        "",
        "s",
    ] {
        assert!(!may_change_session(sql.as_bytes()), "{sql}");
    }
}

#[test]
fn recognises_set_forms() {
    assert_eq!(
        scan("set search_path to acc_s, public"),
        vec![set("search_path", "acc_s, public")]
    );
    assert_eq!(
        scan("SET SESSION statement_timeout = '5s'"),
        vec![set("statement_timeout", "'5s'")]
    );
    assert_eq!(scan("SET TIME ZONE 'UTC'"), vec![set("timezone", "'UTC'")]);
    assert_eq!(
        scan("set work_mem to default"),
        vec![SessionCommand::Reset {
            name: "work_mem".into()
        }]
    );
    assert_eq!(scan("SET LOCAL work_mem = '1MB'"), vec![]);
    assert_eq!(scan("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"), vec![]);
    assert_eq!(scan("select 'set x to 1'"), vec![]);
    assert_eq!(scan("RESET ALL"), vec![SessionCommand::ResetAll]);
    assert_eq!(
        scan("/* c */ reset Work_Mem"),
        vec![SessionCommand::Reset {
            name: "work_mem".into()
        }]
    );
}

#[test]
fn splits_statements_outside_quotes() {
    assert_eq!(
        scan("select ';'; set a.b = 'x;y'; select $$;$$; discard all"),
        vec![set("a.b", "'x;y'"), SessionCommand::DiscardAll]
    );
    assert_eq!(
        scan("DEALLOCATE PREPARE \"S1\""),
        vec![SessionCommand::Deallocate { name: "S1".into() }]
    );
    assert_eq!(scan("deallocate all"), vec![SessionCommand::DeallocateAll]);
}

#[test]
fn diff_sets_resets_and_skips_equal() {
    let mut want = Settings::default();
    want.set("search_path", SettingValue::Sql("a, public".into()));
    want.set("application_name", SettingValue::Text("it's".into()));
    let mut have = Settings::default();
    have.set("work_mem", SettingValue::Sql("'1MB'".into()));
    have.set("search_path", SettingValue::Sql("a, public".into()));
    let sql = want.diff_sql(&have).unwrap();
    assert_eq!(
        sql,
        "RESET work_mem;SELECT pg_catalog.set_config('application_name', 'it''s', false);"
    );
    assert_eq!(want.diff_sql(&want.clone()), None);
    let mut unknown = want.clone();
    unknown.mark_unknown();
    assert!(want.diff_sql(&unknown).unwrap().starts_with("RESET ALL;"));
}

#[test]
fn reset_returns_to_startup_value() {
    let mut base = Settings::default();
    base.set("application_name", SettingValue::Text("app".into()));
    let mut s = base.clone();
    set("application_name", "'other'").apply(&mut s, &base);
    assert_eq!(
        s.get("application_name"),
        Some(&SettingValue::Sql("'other'".into()))
    );
    SessionCommand::Reset {
        name: "application_name".into(),
    }
    .apply(&mut s, &base);
    assert_eq!(s, base);
}

#[test]
fn listen_is_recognised_wherever_it_stands() {
    for sql in [
        "LISTEN foo",
        "  listen \"Chan\"",
        "select 1; Listen x",
        "/* c */ LISTEN y",
    ] {
        assert!(may_change_session(sql.as_bytes()), "{sql}");
        assert!(scan(sql).contains(&SessionCommand::Listen), "{sql}");
    }
    // Named so, or inside a string or comment: not a LISTEN.
    for sql in [
        "select listener from t",
        "select 'listen x'",
        "-- listen x\nselect 1",
    ] {
        assert!(!scan(sql).contains(&SessionCommand::Listen), "{sql}");
    }
}
