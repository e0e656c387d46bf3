//! The SCRAM-SHA-256 verifier: what a server stores for a password instead of the
//! password, in PostgreSQL's `pg_authid` text form. The users file holds them, the
//! PostgreSQL side runs SCRAM exchanges against them, and the MySQL side checks
//! passwords received whole against them.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

const SCRAM_PREFIX: &str = "SCRAM-SHA-256$";

/// Why a verifier's text was refused. The message never contains the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidVerifier(pub &'static str);

/// A parsed SCRAM-SHA-256 verifier. The keys are wiped on drop and never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ScramVerifier {
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
    let mut salted = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut *salted);
    let client_key = Zeroizing::new(hmac(&*salted, b"Client Key"));
    let stored_key: [u8; 32] = Sha256::digest(client_key.as_slice()).into();
    (stored_key, hmac(&*salted, b"Server Key"))
}

impl ScramVerifier {
    /// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
    /// (`pg_authid.rolpassword`), the three binary parts in padded standard base64.
    pub fn parse(text: &str) -> Result<Self, InvalidVerifier> {
        let bad = InvalidVerifier;
        let rest = text
            .strip_prefix(SCRAM_PREFIX)
            .ok_or(bad("does not start with \"SCRAM-SHA-256$\""))?;
        let (params, keys) = rest
            .split_once('$')
            .ok_or(bad("missing '$' between the parameters and the keys"))?;
        let (iterations, salt) = params
            .split_once(':')
            .ok_or(bad("missing ':' between the iteration count and the salt"))?;
        let (stored_key, server_key) = keys
            .split_once(':')
            .ok_or(bad("missing ':' between StoredKey and ServerKey"))?;
        if !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the iteration count is not a number"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| bad("the iteration count is not a valid number"))?;
        if iterations == 0 {
            return Err(bad("the iteration count must be positive"));
        }
        let salt = base64_decode(salt).ok_or(bad("the salt is not valid base64"))?;
        if salt.is_empty() {
            return Err(bad("the salt is empty"));
        }
        let stored_key = key32(stored_key).ok_or(bad("StoredKey is not 32 bytes of base64"))?;
        let server_key = key32(server_key).ok_or(bad("ServerKey is not 32 bytes of base64"))?;
        Ok(Self {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// Derives the verifier of `password`. The password is used as is: PostgreSQL first
    /// applies SASLprep, which leaves ASCII passwords unchanged, so verifiers derived
    /// here from non-ASCII passwords that SASLprep would alter differ from PostgreSQL's.
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Self {
        let (stored_key, server_key) = scram_keys(password.as_bytes(), salt, iterations);
        Self {
            iterations,
            salt: salt.to_vec(),
            stored_key,
            server_key,
        }
    }

    /// The `pg_authid` text form, which [`ScramVerifier::parse`] reads back.
    pub fn to_text(&self) -> String {
        format!(
            "{SCRAM_PREFIX}{}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }

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
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramVerifier")
            .field("iterations", &self.iterations)
            .field("keys", &"<redacted>")
            .finish()
    }
}

fn key32(text: &str) -> Option<[u8; 32]> {
    let bytes = Zeroizing::new(base64_decode(text)?);
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// Strict standard base64 with padding, as PostgreSQL writes verifiers: whitespace,
/// missing padding and non-zero trailing bits are refused.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
#[path = "scram_verifier_tests.rs"]
mod tests;
