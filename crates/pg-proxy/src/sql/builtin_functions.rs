//! PostgreSQL's own functions that a transaction-mode client may call without keeping
//! its server connection: the names of `builtin_functions.txt`, PostgreSQL 15's
//! `pg_catalog`, less those that leave session state behind (`classify.rs` names
//! those).

use std::cmp::Ordering;
use std::sync::LazyLock;

static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut names: Vec<&str> = include_str!("builtin_functions.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    names.sort_unstable();
    names
});

/// Compares like `a.to_ascii_lowercase().cmp(b)` for a lowercase `b`, without
/// allocating.
fn cmp_folded(a: &str, lower: &str) -> Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(lower.bytes())
}

/// Whether `name` (an unquoted identifier, any letter case) is one of them.
pub fn is_builtin(name: &str) -> bool {
    NAMES
        .binary_search_by(|probe| cmp_folded(name, probe).reverse())
        .is_ok()
}

/// Whether the quoted identifier `name` (exact case) is one of them.
pub fn is_builtin_quoted(name: &str) -> bool {
    NAMES.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_builtins_in_any_case_and_not_the_session_ones() {
        for name in [
            "now",
            "COUNT",
            "Lower",
            "jsonb_build_object",
            "pg_advisory_xact_lock",
        ] {
            assert!(is_builtin(name), "{name}");
        }
        for name in [
            "set_config",
            "pg_advisory_lock",
            "setseed",
            "my_func",
            "",
            "zzz",
        ] {
            assert!(!is_builtin(name), "{name}");
        }
        assert!(is_builtin_quoted("now"));
        assert!(!is_builtin_quoted("NOW"));
    }

    #[test]
    fn the_list_is_loaded() {
        assert!(NAMES.len() > 2000);
    }
}
