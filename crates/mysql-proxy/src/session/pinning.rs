//! Statements that create session state no OK packet describes well enough to replay:
//! the client keeps its server connection from then on. Matching is on the raw text,
//! case-insensitively, and errs on the side of pinning.

/// Why a statement pins its client, or `None`.
pub fn pin_reason(sql: &[u8]) -> Option<&'static str> {
    if has_user_variable(sql) && assigns(sql) {
        return Some("user variable");
    }
    const MARKERS: &[(&str, &str)] = &[
        ("temporary", "temporary table"),
        ("get_lock", "named lock"),
        ("lock table", "LOCK TABLES"),
        ("sql_calc_found_rows", "SQL_CALC_FOUND_ROWS"),
        ("found_rows", "FOUND_ROWS()"),
        ("prepare ", "SQL prepared statement"),
        ("handler ", "HANDLER"),
        (
            "set transaction",
            "SET TRANSACTION for the next transaction",
        ),
        ("xa ", "XA transaction"),
    ];
    MARKERS
        .iter()
        .find(|(needle, _)| contains_ci(sql, needle.as_bytes()))
        .map(|(_, why)| *why)
}

/// Whether the statement reads the last insert id (which sluice then sets first).
pub fn reads_last_insert_id(sql: &[u8]) -> bool {
    contains_ci(sql, b"last_insert_id") || contains_ci(sql, b"@@identity")
}

/// Whether a statement that mentions a user variable may assign one (`SET`, `:=`,
/// `INTO @v`). Reading one that was never set here is harmless: it is NULL anywhere.
fn assigns(sql: &[u8]) -> bool {
    let trimmed = sql.trim_ascii_start();
    (trimmed.len() >= 3 && trimmed[..3].eq_ignore_ascii_case(b"set"))
        || memchr::memmem::find(sql, b":=").is_some()
        || contains_ci(sql, b"into")
}

/// `@name` (not `@@system_variable`): a user variable is set or read.
fn has_user_variable(sql: &[u8]) -> bool {
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'@', &sql[at..]) {
        let i = at + i;
        let prev_at = i > 0 && sql[i - 1] == b'@';
        let next = sql.get(i + 1).copied();
        let next_is_at = next == Some(b'@');
        if !prev_at && !next_is_at {
            if let Some(c) = next {
                if c.is_ascii_alphanumeric() || c == b'_' || c == b'`' || c == b'\'' || c == b'"' {
                    return true;
                }
            }
        }
        at = i + 1;
    }
    false
}

/// ASCII case-insensitive search; `needle` is lowercase.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let first = needle[0];
    let upper = first.to_ascii_uppercase();
    let mut at = 0;
    while let Some(i) = memchr::memchr2(first, upper, &hay[at..]) {
        let start = at + i;
        if hay.len() - start >= needle.len()
            && hay[start..start + needle.len()].eq_ignore_ascii_case(needle)
        {
            return true;
        }
        at = start + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinning_statements() {
        assert_eq!(pin_reason(b"set @acc_v = 41"), Some("user variable"));
        assert_eq!(pin_reason(b"SELECT @x := 1"), Some("user variable"));
        assert_eq!(pin_reason(b"SELECT 1 INTO @x"), Some("user variable"));
        // Reading a variable this client never set is NULL on any connection.
        assert_eq!(pin_reason(b"SELECT @x"), None);
        assert_eq!(pin_reason(b"select @@session.time_zone"), None);
        assert_eq!(
            pin_reason(b"create temporary table t(x int)"),
            Some("temporary table")
        );
        assert_eq!(pin_reason(b"SELECT GET_LOCK('a', 1)"), Some("named lock"));
        assert_eq!(pin_reason(b"LOCK TABLES t WRITE"), Some("LOCK TABLES"));
        assert_eq!(
            pin_reason(b"select sql_calc_found_rows * from t"),
            Some("SQL_CALC_FOUND_ROWS")
        );
        assert_eq!(pin_reason(b"select 1"), None);
        assert_eq!(pin_reason(b"set session time_zone = '+05:00'"), None);
        assert_eq!(pin_reason(b"SELECT c FROM sbtest1 WHERE id=5"), None);
    }

    #[test]
    fn last_insert_id_readers() {
        assert!(reads_last_insert_id(b"SELECT LAST_INSERT_ID()"));
        assert!(reads_last_insert_id(b"select @@IDENTITY"));
        assert!(!reads_last_insert_id(b"select 1"));
    }
}
