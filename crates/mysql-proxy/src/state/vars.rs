//! Session system variables a client has set (or a connection has), so that a client
//! moving to another server connection gets the same session, by one `SET`.

use crate::protocol::collation;

/// Variables whose change sluice cannot replay on another connection: a client that
/// changes one keeps its server connection.
pub fn is_replayable(name: &str) -> bool {
    !(name.starts_with("session_track")
        || name.starts_with("gtid")
        || name.starts_with("pseudo")
        || name.starts_with("rand_seed"))
}

/// Variables that describe the latest statement rather than the session (MariaDB
/// reports `last_gtid` after every write): neither replayed nor a reason to pin.
/// sluice carries LAST_INSERT_ID() itself.
pub fn is_per_statement(name: &str) -> bool {
    matches!(
        name,
        "last_insert_id" | "insert_id" | "identity" | "warning_count" | "error_count" | "last_gtid"
    )
}

/// Lowercase variable names and their values, as servers report them, kept sorted by
/// name so that two sets compare equal (the usual case, checked for every
/// transaction) with one cheap comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    entries: Vec<(String, String)>,
}

impl Vars {
    /// What a handshake with collation `id` sets.
    pub fn for_collation(id: u8) -> Vars {
        let mut v = Vars::default();
        if let Some((charset, coll)) = collation::by_id(id) {
            v.set("character_set_client", charset);
            v.set("character_set_connection", charset);
            v.set("character_set_results", charset);
            v.set("collation_connection", coll);
        }
        v
    }

    pub fn set(&mut self, name: &str, value: &str) {
        match self.entries.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
            Ok(i) => {
                if self.entries[i].1 != value {
                    self.entries[i].1 = value.to_owned();
                }
            }
            Err(i) => self.entries.insert(i, (name.to_owned(), value.to_owned())),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.entries[i].1.as_str())
    }

    /// The `SET SESSION` statement that turns a connection with `current` into one with
    /// `self`: variables that differ are set, variables only `current` has are reset
    /// to their defaults. `None` when nothing differs.
    pub fn statement_from(&self, current: &Vars) -> Option<String> {
        if self == current {
            return None;
        }
        let mut parts: Vec<String> = Vec::new();
        for (k, v) in &self.entries {
            if !is_replayable(k) {
                continue;
            }
            if !current.get(k).is_some_and(|c| c.eq_ignore_ascii_case(v)) {
                parts.push(format!("{} = {}", ident(k), literal(k, v)));
            }
        }
        for (k, _) in &current.entries {
            if self.get(k).is_none() && is_replayable(k) {
                parts.push(format!("{} = DEFAULT", ident(k)));
            }
        }
        if parts.is_empty() {
            None
        } else {
            Some(format!("SET SESSION {}", parts.join(", ")))
        }
    }
}

fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Numbers go unquoted (integer variables refuse strings); everything else is a
/// quoted string. An empty character_set_results is NULL ("no conversion").
fn literal(name: &str, value: &str) -> String {
    let numeric = !value.is_empty()
        && value
            .strip_prefix('-')
            .unwrap_or(value)
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().filter(|&b| b == b'.').count() <= 1
        && !value.ends_with('.');
    if numeric {
        value.to_owned()
    } else if value.is_empty() && name == "character_set_results" {
        "NULL".to_owned()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_sets_differences_and_resets_extras() {
        let mut client = Vars::for_collation(45);
        client.set("time_zone", "+05:00");
        client.set("wait_timeout", "60");
        let mut conn = Vars::for_collation(45);
        conn.set("sql_mode", "ANSI");
        assert_eq!(
            client.statement_from(&conn).unwrap(),
            "SET SESSION `time_zone` = '+05:00', `wait_timeout` = 60, `sql_mode` = DEFAULT"
        );
        assert_eq!(client.statement_from(&client), None);
    }

    #[test]
    fn quoting_cannot_break_out() {
        let mut v = Vars::default();
        v.set("x", "a'; DROP TABLE t; --\\");
        let s = v.statement_from(&Vars::default()).unwrap();
        assert_eq!(s, "SET SESSION `x` = 'a''; DROP TABLE t; --\\\\'");
        let mut n = Vars::default();
        n.set("character_set_results", "");
        n.set("y", "1.5.");
        assert_eq!(
            n.statement_from(&Vars::default()).unwrap(),
            "SET SESSION `character_set_results` = NULL, `y` = '1.5.'"
        );
    }

    #[test]
    fn unreplayable_names() {
        assert!(!is_replayable("session_track_schema"));
        assert!(!is_replayable("gtid_next"));
        assert!(is_replayable("time_zone"));
        assert!(is_replayable("sql_mode"));
    }
}
