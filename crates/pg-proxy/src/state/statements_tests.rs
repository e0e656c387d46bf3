//! Tests of the route's shared statement registry.

use super::*;

const NO_TYPES: &[u8] = &[0, 0];
const ONE_INT4: &[u8] = &[0, 1, 0, 0, 0, 23];

fn intern(r: &StatementRegistry, name: &[u8], query: &[u8], types: &[u8]) -> Arc<SharedStatement> {
    r.intern(&ParseView {
        name,
        query,
        param_types: types,
    })
}

#[test]
fn same_text_and_types_share_one_statement() {
    let r = StatementRegistry::default();
    let a = intern(&r, b"a", b"select $1", ONE_INT4);
    let b = intern(&r, b"b", b"select $1", ONE_INT4);
    let c = intern(&r, b"a", b"select $1", NO_TYPES);
    assert_eq!(a.id, b.id);
    assert_ne!(a.id, c.id);
    assert_eq!(r.len(), 2);
    let v = ParseView::decode(&a.parse[5..]).unwrap();
    assert_eq!(v.name, &a.name[..]);
    assert_eq!(v.query, b"select $1");
}

#[test]
fn prepared_set_is_recognised() {
    let r = StatementRegistry::default();
    let s = intern(&r, b"", b"SET search_path TO x", NO_TYPES);
    assert!(s.commands.is_some());
}

#[test]
fn unused_statements_are_pruned_past_the_soft_limit() {
    let r = StatementRegistry::default();
    let kept = intern(&r, b"k", b"select 0", NO_TYPES);
    for i in 1..REGISTRY_SOFT_LIMIT {
        intern(&r, b"", format!("select {i}").as_bytes(), NO_TYPES);
    }
    assert_eq!(r.len(), REGISTRY_SOFT_LIMIT);
    let again = intern(&r, b"n", b"select again", NO_TYPES);
    // Only the statement a client still holds survives, next to the new one.
    assert_eq!(r.len(), 2);
    assert_eq!(again.id, REGISTRY_SOFT_LIMIT as u64 + 1);
    assert_eq!(intern(&r, b"x", b"select 0", NO_TYPES).id, kept.id);
}

#[test]
fn statements_clients_hold_are_not_rescanned_at_every_parse() {
    let r = StatementRegistry::default();
    let held: Vec<_> = (0..REGISTRY_SOFT_LIMIT)
        .map(|i| intern(&r, b"h", format!("select {i}").as_bytes(), NO_TYPES))
        .collect();
    intern(&r, b"n", b"select 'one more'", NO_TYPES);
    // Nothing could go: the next pruning waits until the table has doubled.
    assert_eq!(r.len(), REGISTRY_SOFT_LIMIT + 1);
    assert_eq!(r.prune_at.load(Ordering::Relaxed), 2 * REGISTRY_SOFT_LIMIT);
    drop(held);
}

#[test]
fn ddl_gives_later_parses_a_new_statement() {
    let r = StatementRegistry::default();
    let before = intern(&r, b"a", b"select * from t", NO_TYPES);
    assert_eq!(intern(&r, b"b", b"select * from t", NO_TYPES).id, before.id);
    r.schema_changed();
    let after = intern(&r, b"a", b"select * from t", NO_TYPES);
    assert_ne!(after.id, before.id);
    assert_ne!(after.name, before.name);
    // One entry per text: the new statement replaced the old one for later Parses.
    assert_eq!(r.len(), 1);
    assert_eq!(intern(&r, b"c", b"select * from t", NO_TYPES).id, after.id);
}

#[test]
fn ddl_tags_are_recognised() {
    for tag in [
        &b"CREATE TABLE"[..],
        b"ALTER TABLE",
        b"DROP TYPE",
        b"CREATE TYPE",
    ] {
        assert!(changes_schema(tag), "{}", String::from_utf8_lossy(tag));
    }
    for tag in [
        &b"SELECT 1"[..],
        b"INSERT 0 1",
        b"SET",
        b"COMMIT",
        b"DEALLOCATE ALL",
    ] {
        assert!(!changes_schema(tag), "{}", String::from_utf8_lossy(tag));
    }
}

#[test]
fn server_side_names_carry_a_tag_no_client_can_predict() {
    let a = StatementRegistry::default();
    let b = StatementRegistry::default();
    let name = String::from_utf8(a.name_of(7).to_vec()).unwrap();
    assert!(
        name.starts_with("sluice_") && name.ends_with("_7"),
        "{name}"
    );
    assert_eq!(name.len(), "sluice_".len() + 16 + "_7".len());
    // Another route (or another sluice) names the same statement otherwise.
    assert_ne!(a.name_of(7), b.name_of(7));
}

#[test]
fn a_backslash_is_read_both_ways_and_either_pin_counts() {
    use crate::sql::trusted::TrustedFunctions;
    use crate::state::pin::PinReason;
    // With standard strings (as sluice believes) the SET ROLE is inside the literal;
    // with backslash escapes (as the server may have it) it is a statement.
    let sql = br"select 'a\'; set role x; '";
    let cmds = commands_of(sql, false, &TrustedFunctions::default()).unwrap();
    assert_eq!(cmds[0], SessionCommand::Pin(PinReason::SetRole));
    let cmds = commands_of(sql, true, &TrustedFunctions::default()).unwrap();
    assert_eq!(cmds[0], SessionCommand::Pin(PinReason::SetRole));
}
