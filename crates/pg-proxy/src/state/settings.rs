//! Session settings that must follow a client from one server connection to the next:
//! startup parameters and `SET`/`RESET` statements, recognised in the client's SQL
//! (`sql/classify.rs`) and replayed as a pipelined statement when the client lands on another server.

use std::fmt::Write;
use std::sync::Arc;

use super::pin::{PinReason, Refusal};

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
    /// Shared until changed: a session's settings start as its startup's, and a
    /// server's as the session's it last served, so most copies are never written.
    values: Arc<SettingMap>,
    /// The server's state is not known (a statement with a SET failed): replay from
    /// `RESET ALL`.
    unknown: bool,
}

/// Settings by lowercase name, in name order. A session carries a handful: a sorted
/// vector holds them in one small allocation, where a map's node would take several
/// hundred bytes per session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SettingMap(Vec<(String, SettingValue)>);

impl SettingMap {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    fn insert(&mut self, name: String, value: SettingValue) {
        match self.find(&name) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    fn remove(&mut self, name: &str) {
        if let Ok(i) = self.find(name) {
            self.0.remove(i);
        }
    }

    fn get(&self, name: &str) -> Option<&SettingValue> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &SettingValue)> {
        self.0.iter().map(|(n, v)| (n, v))
    }

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(n, _)| n)
    }
}

impl Settings {
    pub fn set(&mut self, name: &str, value: SettingValue) {
        Arc::make_mut(&mut self.values).insert(name.to_ascii_lowercase(), value);
    }

    pub fn remove(&mut self, name: &str) {
        let name = name.to_ascii_lowercase();
        if self.values.contains_key(&name) {
            Arc::make_mut(&mut self.values).remove(&name);
        }
    }

    pub fn get(&self, name: &str) -> Option<&SettingValue> {
        // Asked once per query (`backslash_escapes`): a lowercase name is looked up as
        // it is, without a lowercased copy.
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.values.get(&name.to_ascii_lowercase())
        } else {
            self.values.get(name)
        }
    }

    pub fn mark_unknown(&mut self) {
        self.unknown = true;
    }

    /// SQL that turns a server whose settings are `from` into `self`, or `None` when
    /// nothing differs.
    pub fn diff_sql(&self, from: &Settings) -> Option<String> {
        if !from.unknown && (Arc::ptr_eq(&from.values, &self.values) || from.values == self.values)
        {
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
        for (name, value) in self.values.iter() {
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
    /// State that cannot move to another server connection: in transaction mode the
    /// client keeps its server connection from the moment it sends the statement.
    Pin(PinReason),
    /// A statement that is not run as sent in transaction mode: a stand-in fails with
    /// the refusal's error instead. Alone in its list.
    Refuse(Refusal),
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
            | SessionCommand::Pin(_)
            | SessionCommand::Refuse(_) => {}
        }
    }
}

/// Whether the settings turn `standard_conforming_strings` off, so that a backslash
/// escapes inside a plain string literal.
pub fn backslash_escapes(settings: &Settings) -> bool {
    let value = match settings.get("standard_conforming_strings") {
        Some(SettingValue::Sql(v) | SettingValue::Text(v)) => v.trim().trim_matches('\''),
        _ => return false,
    };
    // PostgreSQL's booleans: any unique prefix of false, no and off, or 0.
    let v = value.to_ascii_lowercase();
    v == "0"
        || (!v.is_empty() && ("false".starts_with(&v) || "no".starts_with(&v)))
        || (v.len() >= 2 && "off".starts_with(&v))
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
