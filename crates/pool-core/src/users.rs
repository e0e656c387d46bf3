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
//! ```
//!
//! Every user needs at least one of `password`, `scram_verifier`, `md5`,
//! `mysql_native_password` and `mysql_sha256`. Error
//! messages name users and keys but never contain a secret value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::secret::Secret;

const SCRAM_PREFIX: &str = "SCRAM-SHA-256$";

/// A parsed SCRAM-SHA-256 verifier (`pg_authid.rolpassword` format). The keys are wiped
/// on drop and never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ScramSecret {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

/// SCRAM-SHA-256's StoredKey and ServerKey of `password` (RFC 5802): what a verifier
/// holds. The password is used as is, without SASLprep (which leaves ASCII alone).
pub fn scram_keys(password: &[u8], salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let hmac = |key: &[u8], data: &[u8]| -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    };
    let mut salted = zeroize::Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut *salted);
    let client_key = zeroize::Zeroizing::new(hmac(&*salted, b"Client Key"));
    let stored_key: [u8; 32] = Sha256::digest(client_key.as_slice()).into();
    (stored_key, hmac(&*salted, b"Server Key"))
}

impl ScramSecret {
    /// Whether `password` is the one this verifier was made from (for protocols
    /// that receive the password itself, such as MySQL's full authentication).
    pub fn matches_password(&self, password: &[u8]) -> bool {
        let (stored_key, server_key) = scram_keys(password, &self.salt, self.iterations);
        let diff = stored_key
            .iter()
            .chain(&server_key)
            .zip(self.stored_key.iter().chain(&self.server_key))
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }

    /// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, the three
    /// binary parts in padded standard base64. The error never contains the input.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let rest = text
            .strip_prefix(SCRAM_PREFIX)
            .ok_or("does not start with \"SCRAM-SHA-256$\"")?;
        let (params, keys) = rest
            .split_once('$')
            .ok_or("missing '$' between the parameters and the keys")?;
        let (iterations, salt) = params
            .split_once(':')
            .ok_or("missing ':' between the iteration count and the salt")?;
        let (stored_key, server_key) = keys
            .split_once(':')
            .ok_or("missing ':' between StoredKey and ServerKey")?;
        if !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the iteration count is not a number");
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the iteration count is not a valid number")?;
        if iterations == 0 {
            return Err("the iteration count must be positive");
        }
        let salt = base64_decode(salt).ok_or("the salt is not valid base64")?;
        if salt.is_empty() {
            return Err("the salt is empty");
        }
        let stored_key = key32(stored_key).ok_or("StoredKey is not 32 bytes of base64")?;
        let server_key = key32(server_key).ok_or("ServerKey is not 32 bytes of base64")?;
        Ok(Self {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }
}

impl fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSecret")
            .field("iterations", &self.iterations)
            .field("keys", &"<redacted>")
            .finish()
    }
}

fn key32(text: &str) -> Option<[u8; 32]> {
    let mut bytes = base64_decode(text)?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).ok();
    bytes.zeroize();
    key
}

/// Strict standard base64 with padding, as PostgreSQL writes verifiers. Rejects
/// whitespace, missing padding and non-zero trailing bits.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if bytes.len() & 3 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let chunks = bytes.chunks_exact(4);
    let last = chunks.len().checked_sub(1);
    for (i, chunk) in chunks.enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && Some(i) != last) {
            return None;
        }
        let mut n: u32 = 0;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let group = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = 3 - pad;
        // The bits a padded group drops must be zero (canonical encoding).
        if group[keep..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&group[..keep]);
    }
    Some(out)
}

/// One client identity of sluice.
#[derive(Debug, Clone)]
pub struct UserEntry {
    pub name: String,
    /// A plain-text password (for development; prefer `scram`).
    pub password: Option<Secret>,
    /// A SCRAM-SHA-256 verifier.
    pub scram: Option<ScramSecret>,
    /// `md5` followed by 32 lowercase hex digits: md5(password || username).
    pub md5: Option<Secret>,
    /// `*` followed by 40 uppercase hex digits: SHA1(SHA1(password)), as MySQL stores it.
    pub mysql_native: Option<Secret>,
    /// 64 lowercase hex digits: SHA256(SHA256(password)), what caching_sha2_password
    /// checks a client's fast-path answer against.
    pub mysql_sha256: Option<Secret>,
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
    };
    for (key, value) in fields {
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
                let parsed = ScramSecret::parse(value.expose())
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
                    "unknown key \"{key}\" (expected password, scram_verifier, md5, mysql_native_password or mysql_sha256)"
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
mod tests {
    use super::*;

    // PostgreSQL's verifier for password "pencil" with RFC 7677's salt.
    const PENCIL: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

    /// PENCIL is RFC 7677's example verifier, of the password "pencil".
    #[test]
    fn a_scram_verifier_checks_a_password_received_whole() {
        let v = ScramSecret::parse(PENCIL).unwrap();
        assert!(v.matches_password(b"pencil"));
        assert!(!v.matches_password(b"pencil "));
        assert!(!v.matches_password(b""));
    }

    fn user_err(text: &str) -> (String, String) {
        match Users::parse(text).unwrap_err() {
            UsersError::User { user, message } => (user, message),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parses_all_kinds_of_secret() {
        let users = Users::parse(&format!(
            "[users.alice]\npassword = \"wonderland\"\n\n\
             [users.bob]\nscram_verifier = \"{PENCIL}\"\n\n\
             [users.carol]\nmd5 = \"md5A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5\"\npassword = \"x\"\n"
        ))
        .unwrap();
        assert_eq!(users.len(), 3);
        assert!(!users.is_empty());
        let alice = users.get("alice").unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.password.as_ref().unwrap().expose(), "wonderland");
        assert!(alice.scram.is_none() && alice.md5.is_none());

        let bob = users.get("bob").unwrap();
        let v = bob.scram.as_ref().unwrap();
        assert_eq!(v.iterations, 4096);
        assert_eq!(
            v.salt,
            [
                0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36,
                0xfa, 0x81
            ]
        );
        assert_eq!(&v.stored_key[..4], &[0x58, 0x6e, 0x5d, 0xf2]);
        assert_eq!(v.server_key[31], 0xd5);
        assert!(bob.password.is_none());

        let carol = users.get("carol").unwrap();
        assert_eq!(
            carol.md5.as_ref().unwrap().expose(),
            "md5a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
        );
        assert!(users.get("dave").is_none());
        let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
    }

    #[test]
    fn quoted_and_dotted_names() {
        let users =
            Users::parse("[users.\"Mixed Case\"]\npassword = \"p\"\n[users]\nplain = { md5 = \"md5ffffffffffffffffffffffffffffffff\" }\n")
                .unwrap();
        assert!(users.get("Mixed Case").is_some());
        assert!(users.get("plain").unwrap().md5.is_some());
    }

    #[test]
    fn empty_file_has_no_users() {
        assert!(Users::parse("").unwrap().is_empty());
        assert!(Users::parse("# nothing\n[users]\n").unwrap().is_empty());
    }

    #[test]
    fn user_without_secret() {
        let (user, msg) = user_err("[users.alice]\n");
        assert_eq!(user, "alice");
        assert!(msg.contains("at least one"), "{msg}");
    }

    #[test]
    fn malformed_verifiers_name_the_user_not_the_secret() {
        let bad = [
            "SCRAM-SHA-1$4096:c2FsdA==$a:b",
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
            "SCRAM-SHA-256$4096W22ZaJ0SNY7soEsUEjb6gQ==$a:b",
            "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
            "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
            "SCRAM-SHA-256$99999999999:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
            "SCRAM-SHA-256$4096:W22Z*J0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
            "SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4q==:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU",
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
        ];
        for v in bad {
            let (user, msg) = user_err(&format!("[users.bob]\nscram_verifier = \"{v}\"\n"));
            assert_eq!(user, "bob");
            assert!(msg.starts_with("malformed scram_verifier"), "{msg}");
            assert!(!msg.contains("W22Z") && !msg.contains("WG5d"), "{msg}");
        }
    }

    #[test]
    fn malformed_md5() {
        for v in [
            "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5",
            "md5a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d",
            "md5a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4dz",
            "md5a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5a",
        ] {
            let (user, msg) = user_err(&format!("[users.eve]\nmd5 = \"{v}\"\n"));
            assert_eq!(user, "eve");
            assert!(msg.contains("malformed md5"), "{msg}");
            assert!(!msg.contains("a0b1"), "{msg}");
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types() {
        let (user, msg) = user_err("[users.alice]\npasword = \"secret-value\"\n");
        assert_eq!(user, "alice");
        assert!(msg.contains("unknown key \"pasword\""), "{msg}");
        assert!(!msg.contains("secret-value"));

        let (_, msg) = user_err("[users.alice]\npassword = 123456\n");
        assert!(msg.contains("must be a string"), "{msg}");
        assert!(!msg.contains("123456"), "{msg}");

        let (_, msg) = user_err("[users.alice]\npassword = \"\"\n");
        assert!(msg.contains("empty"), "{msg}");

        let (user, msg) = user_err("[users]\nalice = \"secret-value\"\n");
        assert_eq!(user, "alice");
        assert!(!msg.contains("secret-value"), "{msg}");

        for text in ["[user.alice]\npassword = \"p\"\n", "users = 3\n", "x = 1\n"] {
            assert!(
                matches!(Users::parse(text), Err(UsersError::Structure(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn syntax_errors_have_position_but_no_content() {
        let err = Users::parse("[users.alice]\npassword = \"top-secret\n").unwrap_err();
        let UsersError::Syntax { line, .. } = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(*line, 2);
        let shown = err.to_string();
        assert!(!shown.contains("top-secret"), "{shown}");

        let err = Users::parse("[users.alice]\npassword = \"a\"\npassword = \"top-secret\"\n")
            .unwrap_err();
        assert!(!err.to_string().contains("top-secret"), "{err}");
        assert!(!format!("{err:?}").contains("top-secret"), "{err:?}");
    }

    #[test]
    fn debug_output_is_redacted() {
        let users = Users::parse(&format!(
            "[users.a]\npassword = \"hunter2\"\nscram_verifier = \"{PENCIL}\"\nmd5 = \"md5ffffffffffffffffffffffffffffffff\"\n"
        ))
        .unwrap();
        let shown = format!("{users:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("ffff"), "{shown}");
        assert!(!shown.contains("88, 110"), "{shown}");
    }

    #[test]
    fn load_from_file() {
        let dir = std::env::temp_dir().join(format!(
            "sluice-users-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.toml");
        std::fs::write(&path, "[users.app]\npassword = \"change-me\"\n").unwrap();
        let users = Users::load(&path).unwrap();
        assert_eq!(users.len(), 1);

        std::fs::write(&path, "[users.app]\n").unwrap();
        let err = Users::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("users.toml") && err.contains("user \"app\""),
            "{err}"
        );

        let missing = dir.join("missing.toml");
        let err = Users::load(&missing).unwrap_err();
        assert!(matches!(err, UsersError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.toml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn base64_strictness() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        for bad in [
            "Zg", "Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm 9", "Zm9v\n",
        ] {
            assert!(base64_decode(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn mysql_hashes_are_checked_and_normalised() {
        let users = Users::parse(
            "[users.shlink]\nmysql_native_password = \"*2470c0c06dee42fd1618bb99005adca2ec9d1e19\"\n\
             mysql_sha256 = \"AB00000000000000000000000000000000000000000000000000000000000000\"\n",
        )
        .unwrap();
        let u = users.get("shlink").unwrap();
        assert_eq!(
            u.mysql_native.as_ref().unwrap().expose(),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        assert!(u
            .mysql_sha256
            .as_ref()
            .unwrap()
            .expose()
            .starts_with("ab00"));
        for bad in [
            "mysql_native_password = \"2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19\"",
            "mysql_native_password = \"*2470C0\"",
            "mysql_sha256 = \"zz\"",
        ] {
            let err = Users::parse(&format!("[users.x]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("malformed mysql"), "{err}");
            assert!(!err.contains("2470"), "the value leaked into: {err}");
        }
    }
}
