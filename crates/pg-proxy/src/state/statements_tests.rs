//! Tests of the route's shared statement registry.

use super::*;

#[test]
fn same_text_and_types_share_one_statement() {
    let r = StatementRegistry::default();
    let a = r.intern(&ParseView {
        name: b"a",
        query: b"select $1",
        param_types: &[0, 1, 0, 0, 0, 23],
    });
    let b = r.intern(&ParseView {
        name: b"b",
        query: b"select $1",
        param_types: &[0, 1, 0, 0, 0, 23],
    });
    let c = r.intern(&ParseView {
        name: b"a",
        query: b"select $1",
        param_types: &[0, 0],
    });
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
    let s = r.intern(&ParseView {
        name: b"",
        query: b"SET search_path TO x",
        param_types: &[0, 0],
    });
    assert!(s.commands.is_some());
}

#[test]
fn unused_statements_are_pruned_past_the_soft_limit() {
    let r = StatementRegistry::default();
    let kept = r.intern(&ParseView {
        name: b"k",
        query: b"select 0",
        param_types: &[0, 0],
    });
    for i in 1..REGISTRY_SOFT_LIMIT {
        let q = format!("select {i}");
        r.intern(&ParseView {
            name: b"",
            query: q.as_bytes(),
            param_types: &[0, 0],
        });
    }
    assert_eq!(r.len(), REGISTRY_SOFT_LIMIT);
    let again = r.intern(&ParseView {
        name: b"n",
        query: b"select again",
        param_types: &[0, 0],
    });
    // Only the statement a client still holds survives, next to the new one.
    assert_eq!(r.len(), 2);
    assert_eq!(again.id, REGISTRY_SOFT_LIMIT as u64 + 1);
    let same = r.intern(&ParseView {
        name: b"x",
        query: b"select 0",
        param_types: &[0, 0],
    });
    assert_eq!(same.id, kept.id);
}
