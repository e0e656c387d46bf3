//! Tests of replaying settings.

use super::*;

fn set(name: &str, v: &str) -> SessionCommand {
    SessionCommand::Set {
        name: name.into(),
        value: SettingValue::Sql(v.into()),
    }
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
fn standard_conforming_strings_off_in_any_spelling() {
    for (value, off) in [
        ("off", true),
        ("'OFF'", true),
        ("false", true),
        ("f", true),
        ("0", true),
        ("no", true),
        ("on", false),
        ("true", false),
        ("o", false),
    ] {
        let mut s = Settings::default();
        s.set(
            "standard_conforming_strings",
            SettingValue::Sql(value.into()),
        );
        assert_eq!(backslash_escapes(&s), off, "{value}");
    }
    assert!(!backslash_escapes(&Settings::default()));
}
