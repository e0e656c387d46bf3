//! Session settings that must follow a client from one server connection to the next:
//! startup parameters and `SET`/`RESET` statements, recognised in the client's SQL and
//! replayed as a pipelined statement when the client lands on another server.

use std::collections::BTreeMap;
use std::fmt::Write;

/// How a setting's value is replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// SQL text after `SET name TO`, exactly as the client wrote it.
    Sql(String),
    /// A plain string, as startup parameters carry them; replayed with `set_config`.
    Text(String),
}

/// The settings a session wants, or a server connection has applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<String, SettingValue>,
    /// The server's state is not known (a statement with a SET failed): replay from
    /// `RESET ALL`.
    unknown: bool,
}

impl Settings {
    pub fn set(&mut self, name: &str, value: SettingValue) {
        self.values.insert(name.to_ascii_lowercase(), value);
    }

    pub fn remove(&mut self, name: &str) {
        self.values.remove(&name.to_ascii_lowercase());
    }

    pub fn get(&self, name: &str) -> Option<&SettingValue> {
        self.values.get(&name.to_ascii_lowercase())
    }

    pub fn mark_unknown(&mut self) {
        self.unknown = true;
    }

    /// SQL that turns a server whose settings are `from` into `self`, or `None` when
    /// nothing differs.
    pub fn diff_sql(&self, from: &Settings) -> Option<String> {
        if !from.unknown && from.values == self.values {
            return None;
        }
        let mut sql = String::new();
        if from.unknown {
            sql.push_str("RESET ALL;");
        } else {
            for name in from.values.keys() {
                if !self.values.contains_key(name) {
                    let _ = write!(sql, "RESET {};", quote_name(name));
                }
            }
        }
        for (name, value) in &self.values {
            if !from.unknown && from.values.get(name) == Some(value) {
                continue;
            }
            match value {
                SettingValue::Sql(v) => {
                    let _ = write!(sql, "SET {} TO {};", quote_name(name), v);
                }
                SettingValue::Text(v) => {
                    let _ = write!(
                        sql,
                        "SELECT pg_catalog.set_config({}, {}, false);",
                        quote_literal(name),
                        quote_literal(v)
                    );
                }
            }
        }
        Some(sql)
    }
}

fn quote_name(name: &str) -> String {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A statement that changes what the session carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    Set {
        name: String,
        value: SettingValue,
    },
    Reset {
        name: String,
    },
    ResetAll,
    DiscardAll,
    Deallocate {
        name: String,
    },
    DeallocateAll,
    /// `LISTEN`: the session waits for notifications on its server connection, so the
    /// client keeps that connection (in transaction mode it is pinned).
    Listen,
}

impl SessionCommand {
    /// Applies a SET/RESET to `settings`; `base` holds the startup values that RESET
    /// returns to.
    pub fn apply(&self, settings: &mut Settings, base: &Settings) {
        match self {
            SessionCommand::Set { name, value } => settings.set(name, value.clone()),
            SessionCommand::Reset { name } => match base.get(name) {
                Some(v) => settings.set(name, v.clone()),
                None => settings.remove(name),
            },
            SessionCommand::ResetAll | SessionCommand::DiscardAll => {
                settings.values = base.values.clone();
            }
            SessionCommand::Deallocate { .. }
            | SessionCommand::DeallocateAll
            | SessionCommand::Listen => {}
        }
    }
}

/// Cheap test used before the full scan: could this SQL hold a session command?
pub fn may_change_session(sql: &[u8]) -> bool {
    let start = sql
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(sql.len());
    let head = &sql[start..];
    let starts = |kw: &[u8]| head.len() >= kw.len() && head[..kw.len()].eq_ignore_ascii_case(kw);
    // Also catches multi-statement strings that contain a SET later on.
    starts(b"set")
        || starts(b"reset")
        || starts(b"discard")
        || starts(b"deallocate")
        || contains_ci(sql, b"set ")
        || contains_ci(sql, b"listen")
}

/// Whether `hay` contains `needle` (lowercase ASCII, non-empty) in any letter case.
/// Runs on every query: candidates are found by a vectorised search for the first
/// letter instead of comparing at every position.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let first = needle[0];
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), hay).any(|i| {
        hay[i..].len() >= needle.len() && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

/// Finds the session commands in a query string (one or more statements).
pub fn scan(sql: &str) -> Vec<SessionCommand> {
    split_statements(sql)
        .into_iter()
        .filter_map(classify)
        .collect()
}

/// Splits on `;` outside quotes, quoted identifiers, comments and dollar quotes.
fn split_statements(sql: &str) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                if let Some(len) = b[i + 1..]
                    .iter()
                    .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
                {
                    if b[i + 1 + len] == b'$' {
                        let tag = &b[i..i + len + 2];
                        let body_start = i + len + 2;
                        match b[body_start..].windows(tag.len()).position(|w| w == tag) {
                            Some(p) => i = body_start + p + tag.len() - 1,
                            None => i = b.len(),
                        }
                    }
                }
            }
            b';' => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < sql.len() {
        out.push(&sql[start..]);
    }
    out
}

fn classify(stmt: &str) -> Option<SessionCommand> {
    let stmt = strip_comments(stmt);
    let stmt = stmt.trim();
    let (first, rest) = next_word(stmt);
    match first.to_ascii_lowercase().as_str() {
        "set" => classify_set(rest),
        "reset" => {
            let (name, tail) = next_word(rest);
            if !tail.trim().is_empty() || name.is_empty() {
                return None;
            }
            if name.eq_ignore_ascii_case("all") {
                Some(SessionCommand::ResetAll)
            } else {
                Some(SessionCommand::Reset {
                    name: normalize_name(name),
                })
            }
        }
        "discard" => {
            let (what, tail) = next_word(rest);
            (what.eq_ignore_ascii_case("all") && tail.trim().is_empty())
                .then_some(SessionCommand::DiscardAll)
        }
        "listen" => Some(SessionCommand::Listen),
        "deallocate" => {
            let (mut name, mut tail) = next_word(rest);
            if name.eq_ignore_ascii_case("prepare") {
                (name, tail) = next_word(tail);
            }
            if name.is_empty() || !tail.trim().is_empty() {
                return None;
            }
            if name.eq_ignore_ascii_case("all") {
                Some(SessionCommand::DeallocateAll)
            } else {
                Some(SessionCommand::Deallocate {
                    name: unquote_ident(name),
                })
            }
        }
        _ => None,
    }
}

fn classify_set(rest: &str) -> Option<SessionCommand> {
    let (mut word, mut tail) = next_word(rest);
    if word.eq_ignore_ascii_case("local") {
        // Lasts until the end of the transaction only: nothing follows the client.
        return None;
    }
    if word.eq_ignore_ascii_case("session") {
        (word, tail) = next_word(tail);
        if word.eq_ignore_ascii_case("characteristics")
            || word.eq_ignore_ascii_case("authorization")
        {
            return None;
        }
    }
    let lower = word.to_ascii_lowercase();
    let (name, value) = match lower.as_str() {
        "transaction" | "constraints" | "" => return None,
        "time" => {
            let (zone, v) = next_word(tail);
            if !zone.eq_ignore_ascii_case("zone") {
                return None;
            }
            ("timezone".to_owned(), v.trim())
        }
        "names" => ("client_encoding".to_owned(), tail.trim()),
        "schema" => ("search_path".to_owned(), tail.trim()),
        "role" => ("role".to_owned(), tail.trim()),
        _ => {
            let t = tail.trim_start();
            let v = if let Some(v) = t.strip_prefix('=') {
                v
            } else {
                let (to, v) = next_word(t);
                if !to.eq_ignore_ascii_case("to") {
                    return None;
                }
                v
            };
            (normalize_name(word), v.trim())
        }
    };
    if value.is_empty() {
        return None;
    }
    if value.eq_ignore_ascii_case("default") {
        return Some(SessionCommand::Reset { name });
    }
    Some(SessionCommand::Set {
        name,
        value: SettingValue::Sql(value.to_owned()),
    })
}

fn next_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn normalize_name(word: &str) -> String {
    if word.starts_with('"') {
        unquote_ident(word)
    } else {
        word.to_ascii_lowercase()
    }
}

fn unquote_ident(word: &str) -> String {
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => word.to_ascii_lowercase(),
    }
}

fn strip_comments(stmt: &str) -> std::borrow::Cow<'_, str> {
    let t = stmt.trim_start();
    if !(t.starts_with("--") || t.starts_with("/*")) {
        return std::borrow::Cow::Borrowed(stmt);
    }
    let mut s = t;
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix("--") {
            s = r.find('\n').map(|p| &r[p + 1..]).unwrap_or("");
        } else if let Some(r) = s.strip_prefix("/*") {
            s = r.find("*/").map(|p| &r[p + 2..]).unwrap_or("");
        } else {
            return std::borrow::Cow::Owned(s.to_owned());
        }
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
