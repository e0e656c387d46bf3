//! The users file: the identities clients use to log in to sluice. These are not
//! database credentials; sluice logs in to databases with each route's own credentials.
//!
//! ```toml
//! [users.alice]
//! scram_verifier = "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>"  # as in pg_authid
//! md5 = "md5<32 hex digits>"       # md5(password || username), as PostgreSQL stores it
//!
//! [users.shlink]                  # MySQL clients
//! mysql_native_password = "*<40 hex digits>"  # as in mysql.user: SHA1(SHA1(password))
//! mysql_sha256 = "<64 hex digits>"            # SHA256(SHA256(password)), for caching_sha2_password
//!
//! [users.dev]
//! password = "plain text, for development"
//!
//! [users.ops]
//! password = "..."
//! admin = true                    # may run every command of the admin console
//! # stats = true                  # may only SHOW in the admin console
//! ```
//!
//! Every user needs at least one of `password`, `scram_verifier`, `md5`,
//! `mysql_native_password` and `mysql_sha256`. Error
//! messages name users and keys but never contain a secret value.

mod bindings;
mod scram_verifier;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::secret::Secret;

pub use bindings::DatabaseUsers;
pub use scram_verifier::{scram_keys, InvalidVerifier, ScramVerifier};

/// One client identity of sluice.
#[derive(Debug, Clone)]
pub struct UserEntry {
    pub name: String,
    /// A plain-text password (for development; prefer `scram`).
    pub password: Option<Secret>,
    /// A SCRAM-SHA-256 verifier.
    pub scram: Option<ScramVerifier>,
    /// `md5` followed by 32 lowercase hex digits: md5(password || username).
    pub md5: Option<Secret>,
    /// `*` followed by 40 uppercase hex digits: SHA1(SHA1(password)), as MySQL stores it.
    pub mysql_native: Option<Secret>,
    /// 64 lowercase hex digits: SHA256(SHA256(password)), what caching_sha2_password
    /// checks a client's fast-path answer against.
    pub mysql_sha256: Option<Secret>,
    /// May log in to the admin console and run every command.
    pub admin: bool,
    /// May log in to the admin console and run its SHOW commands.
    pub stats: bool,
}

impl UserEntry {
    /// Whether the user may log in to the admin console at all.
    pub fn console_access(&self) -> bool {
        self.admin || self.stats
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read users file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("users file {}: {error}", path.display())]
    InFile {
        path: PathBuf,
        error: Box<UsersError>,
    },
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Structure(String),
    #[error("user \"{user}\": {message}")]
    User { user: String, message: String },
}

/// The users sluice accepts, by name.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: BTreeMap<String, UserEntry>,
}

impl Users {
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let text =
            Secret::new(
                std::fs::read_to_string(path).map_err(|source| UsersError::Read {
                    path: path.to_owned(),
                    source,
                })?,
            );
        Users::parse(text.expose()).map_err(|error| UsersError::InFile {
            path: path.to_owned(),
            error: Box::new(error),
        })
    }

    pub fn parse(text: &str) -> Result<Users, UsersError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| line_and_column(text, span.start));
            // Only the message: the error's own rendering quotes the source line, which
            // may hold a password.
            UsersError::Syntax {
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        let mut users = BTreeMap::new();
        for (key, value) in table {
            if key != "users" {
                return Err(UsersError::Structure(format!(
                    "unknown top-level key \"{key}\" (users are defined as [users.NAME] tables)"
                )));
            }
            let toml::Value::Table(entries) = value else {
                return Err(UsersError::Structure(
                    "\"users\" must be a table of [users.NAME] tables".into(),
                ));
            };
            for (name, fields) in entries {
                let entry = parse_user(&name, fields)?;
                users.insert(name, entry);
            }
        }
        Ok(Users { users })
    }

    pub fn get(&self, name: &str) -> Option<&UserEntry> {
        self.users.get(name)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// All users, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = &UserEntry> {
        self.users.values()
    }
}

fn parse_user(name: &str, fields: toml::Value) -> Result<UserEntry, UsersError> {
    let err = |message: String| UsersError::User {
        user: name.to_owned(),
        message,
    };
    if name.is_empty() {
        return Err(UsersError::Structure("a user name is empty".into()));
    }
    if name.contains('\0') {
        return Err(UsersError::Structure(
            "a user name contains a NUL character".into(),
        ));
    }
    let toml::Value::Table(fields) = fields else {
        return Err(err(
            "must be a table with password, scram_verifier or md5".into()
        ));
    };
    let mut entry = UserEntry {
        name: name.to_owned(),
        password: None,
        scram: None,
        md5: None,
        mysql_native: None,
        mysql_sha256: None,
        admin: false,
        stats: false,
    };
    for (key, value) in fields {
        if key == "admin" || key == "stats" {
            let toml::Value::Boolean(flag) = value else {
                return Err(err(format!("{key} must be true or false")));
            };
            if key == "admin" {
                entry.admin = flag;
            } else {
                entry.stats = flag;
            }
            continue;
        }
        let toml::Value::String(value) = value else {
            return Err(err(format!("{key} must be a string")));
        };
        let value = Secret::new(value);
        match key.as_str() {
            "password" => {
                if value.is_empty() {
                    return Err(err("password is empty".into()));
                }
                entry.password = Some(value);
            }
            "scram_verifier" => {
                let parsed = ScramVerifier::parse(value.expose())
                    .map_err(|why| err(format!("malformed scram_verifier: {why}")))?;
                entry.scram = Some(parsed);
            }
            "md5" => entry.md5 = Some(parse_md5(&value).map_err(err)?),
            "mysql_native_password" => {
                entry.mysql_native = Some(parse_hex_hash(&value, "*", 40, true).map_err(err)?)
            }
            "mysql_sha256" => {
                entry.mysql_sha256 = Some(parse_hex_hash(&value, "", 64, false).map_err(err)?)
            }
            _ => {
                return Err(err(format!(
                    "unknown key \"{key}\" (expected password, scram_verifier, md5, mysql_native_password, mysql_sha256, admin or stats)"
                )))
            }
        }
    }
    if entry.password.is_none()
        && entry.scram.is_none()
        && entry.md5.is_none()
        && entry.mysql_native.is_none()
        && entry.mysql_sha256.is_none()
    {
        return Err(err(
            "needs at least one of password, scram_verifier, md5, mysql_native_password or mysql_sha256".into()
        ));
    }
    Ok(entry)
}

/// Checks `md5` + 32 hex digits and lowercases the digits, as clients compute them.
fn parse_md5(value: &Secret) -> Result<Secret, String> {
    let text = value.expose();
    let hex = text
        .strip_prefix("md5")
        .ok_or("malformed md5: must start with \"md5\"")?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("malformed md5: must be \"md5\" followed by 32 hex digits".into());
    }
    Ok(Secret::new(format!("md5{}", hex.to_ascii_lowercase())))
}

/// Checks `prefix` + `digits` hex digits; normalises the case. The error never quotes
/// the value.
fn parse_hex_hash(
    value: &Secret,
    prefix: &str,
    digits: usize,
    upper: bool,
) -> Result<Secret, String> {
    let what = if prefix.is_empty() {
        "mysql_sha256"
    } else {
        "mysql_native_password"
    };
    let hex = value.expose().strip_prefix(prefix).unwrap_or("");
    if hex.len() != digits || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "malformed {what}: must be \"{prefix}\" followed by {digits} hex digits"
        ));
    }
    let hex = if upper {
        hex.to_ascii_uppercase()
    } else {
        hex.to_ascii_lowercase()
    };
    Ok(Secret::new(format!("{prefix}{hex}")))
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
