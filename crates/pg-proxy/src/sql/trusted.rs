//! Functions a route's operator declares harmless for session state (`trusted_functions`):
//! an extension's functions that apps call in every query (`uuid_generate_v4`,
//! PostGIS's `st_*` in schema `public`, ...). A call of one of them does not pin a
//! transaction-mode client, as a call of PostgreSQL's own functions does not.

use std::collections::HashSet;

/// Entries: `name` (called without a schema), `schema.name`, or `schema.*` (every
/// function of the schema, called with its schema).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedFunctions {
    unqualified: HashSet<String>,
    qualified: HashSet<(String, String)>,
    schemas: HashSet<String>,
}

impl TrustedFunctions {
    /// Reads the entries; an entry that is not one of the three forms is an error
    /// naming it.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut t = Self::default();
        let word = |w: &str| !w.is_empty() && !w.contains(['.', '*', '"', ' ', '(']);
        for entry in entries {
            let entry = entry.as_ref().to_ascii_lowercase();
            match entry.split_once('.') {
                None if word(&entry) => {
                    t.unqualified.insert(entry);
                }
                Some((schema, "*")) if word(schema) => {
                    t.schemas.insert(schema.to_owned());
                }
                Some((schema, name)) if word(schema) && word(name) => {
                    t.qualified.insert((schema.to_owned(), name.to_owned()));
                }
                _ => {
                    return Err(format!(
                        "\"{entry}\" is not a function name, schema.name or schema.*"
                    ))
                }
            }
        }
        Ok(t)
    }

    /// Whether a call of `name`, with `schema` when the call names one, is trusted.
    /// Both as written in the query, unquoted (compared ignoring ASCII case).
    pub fn trusts(&self, schema: Option<&str>, name: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        let name = name.to_ascii_lowercase();
        match schema {
            None => self.unqualified.contains(&name),
            Some(schema) => {
                let schema = schema.to_ascii_lowercase();
                self.schemas.contains(&schema) || self.qualified.contains(&(schema, name))
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.unqualified.is_empty() && self.qualified.is_empty() && self.schemas.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_and_bad_entries() {
        let t = TrustedFunctions::parse(&["uuid_generate_v4", "app.audit", "postgis.*"]).unwrap();
        assert!(t.trusts(None, "UUID_generate_v4"));
        assert!(!t.trusts(Some("other"), "uuid_generate_v4"));
        assert!(t.trusts(Some("app"), "audit"));
        assert!(!t.trusts(None, "audit"));
        assert!(t.trusts(Some("PostGIS"), "st_distance"));
        assert!(!t.trusts(None, "st_distance"));
        for bad in ["", "a.b.c", "*", "a b", "\"x\""] {
            assert!(TrustedFunctions::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
