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
    /// `schema.name`.
    qualified: HashSet<String>,
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
                    t.qualified.insert(format!("{schema}.{name}"));
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
        // Lowercased on the stack: this runs for calls in every query.
        let mut buf = [0u8; 2 * MAX_NAME + 1];
        match schema {
            None => lowered(&mut buf, &[name]).is_some_and(|n| self.unqualified.contains(n)),
            Some(schema) => {
                lowered(&mut buf, &[schema]).is_some_and(|s| self.schemas.contains(s))
                    || lowered(&mut buf, &[schema, ".", name])
                        .is_some_and(|q| self.qualified.contains(q))
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.unqualified.is_empty() && self.qualified.is_empty() && self.schemas.is_empty()
    }
}

/// PostgreSQL's longest identifier (NAMEDATALEN - 1); longer names are truncated to it,
/// so no configured name is longer.
const MAX_NAME: usize = 63;

/// `parts` joined and lowercased in `buf`; `None` when they do not fit.
fn lowered<'b>(buf: &'b mut [u8], parts: &[&str]) -> Option<&'b str> {
    let mut len = 0;
    for part in parts {
        let dest = buf.get_mut(len..len + part.len())?;
        dest.copy_from_slice(part.as_bytes());
        dest.make_ascii_lowercase();
        len += part.len();
    }
    // ASCII lowercasing of UTF-8 text keeps it UTF-8.
    std::str::from_utf8(&buf[..len]).ok()
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
