//! PostgreSQL's md5 password scheme: the stored form is `md5` + hex(md5(password ||
//! username)), and a client answers a 4-byte salt with `md5` + hex(md5(stored hex ||
//! salt)).

use md5::{Digest, Md5};

use super::constant_time_eq;

const PREFIX: &str = "md5";

/// The stored form of a password: `md5` followed by 32 lowercase hex digits.
pub fn md5_hash(user: &str, password: &str) -> String {
    let mut h = Md5::new();
    h.update(password.as_bytes());
    h.update(user.as_bytes());
    prefixed_hex(&h.finalize())
}

/// The response a client holding `stored` gives to `salt`. `stored` is the `md5…` form;
/// a value without the prefix is taken as the bare hex digits.
pub fn md5_response(stored: &str, salt: [u8; 4]) -> String {
    let hex = stored.strip_prefix(PREFIX).unwrap_or(stored);
    let mut h = Md5::new();
    h.update(hex.as_bytes());
    h.update(salt);
    prefixed_hex(&h.finalize())
}

/// Whether `client_response` (the PasswordMessage contents without the terminating
/// NUL) answers `salt` for the stored hash. The comparison takes constant time; a
/// malformed stored hash never verifies.
pub fn verify_md5_response(stored: &str, salt: [u8; 4], client_response: &[u8]) -> bool {
    let well_formed = stored
        .strip_prefix(PREFIX)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        return false;
    }
    let expected = md5_response(&stored.to_ascii_lowercase(), salt);
    constant_time_eq(expected.as_bytes(), client_response)
}

fn prefixed_hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(PREFIX.len() + digest.len() * 2);
    s.push_str(PREFIX);
    for &b in digest {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_hash_matches_postgres_format() {
        // md5("password" || "postgres"), as `CREATE ROLE postgres PASSWORD 'password'`
        // stores it with password_encryption = md5.
        assert_eq!(
            md5_hash("postgres", "password"),
            "md532e12f215ba27cb750c9e093ce4b5127"
        );
        let h = md5_hash("alice", "secret");
        assert_eq!(h.len(), 35);
        assert!(h.starts_with("md5"));
    }

    #[test]
    fn response_matches_the_postgres_protocol_client() {
        for (user, pw, salt) in [
            ("alice", "secret", [1, 2, 3, 4]),
            ("postgres", "password", [0xff, 0x00, 0x7f, 0x80]),
            ("ünïcode", "pässwörd", [0, 0, 0, 0]),
            ("u", "", [9, 9, 9, 9]),
        ] {
            let client =
                postgres_protocol::authentication::md5_hash(user.as_bytes(), pw.as_bytes(), salt);
            let stored = md5_hash(user, pw);
            assert_eq!(md5_response(&stored, salt), client);
            assert_eq!(md5_response(&stored[3..], salt), client);
            assert!(verify_md5_response(&stored, salt, client.as_bytes()));
        }
    }

    #[test]
    fn wrong_responses_are_refused() {
        let stored = md5_hash("alice", "secret");
        let salt = [1, 2, 3, 4];
        let good = md5_response(&stored, salt);
        assert!(!verify_md5_response(&stored, [1, 2, 3, 5], good.as_bytes()));
        let wrong_pw = postgres_protocol::authentication::md5_hash(b"alice", b"Secret", salt);
        assert!(!verify_md5_response(&stored, salt, wrong_pw.as_bytes()));
        let wrong_user = postgres_protocol::authentication::md5_hash(b"bob", b"secret", salt);
        assert!(!verify_md5_response(&stored, salt, wrong_user.as_bytes()));
        assert!(!verify_md5_response(&stored, salt, b""));
        assert!(!verify_md5_response(&stored, salt, &good.as_bytes()[..34]));
        // The stored hash itself (a replayed "pass the hash") is not a valid response.
        assert!(!verify_md5_response(&stored, salt, stored.as_bytes()));
        // Cleartext password instead of a hash.
        assert!(!verify_md5_response(&stored, salt, b"secret"));
    }

    #[test]
    fn malformed_stored_hashes_never_verify() {
        let salt = [1, 2, 3, 4];
        for stored in [
            "",
            "md5",
            "md5abc",
            "32e12f215ba27cb750c9e093ce4b5127",
            "md5zz",
        ] {
            let response = md5_response(stored, salt);
            assert!(!verify_md5_response(stored, salt, response.as_bytes()));
        }
    }

    #[test]
    fn uppercase_stored_hash_is_normalized() {
        let stored = md5_hash("alice", "secret");
        let upper = format!("md5{}", stored[3..].to_ascii_uppercase());
        let client = postgres_protocol::authentication::md5_hash(b"alice", b"secret", [5; 4]);
        assert!(verify_md5_response(&upper, [5; 4], client.as_bytes()));
    }
}
