//! `mysql_native_password`: the client sends
//! `SHA1(password) XOR SHA1(nonce || SHA1(SHA1(password)))`; the server keeps
//! `SHA1(SHA1(password))` (shown as `*` and 40 hex digits in mysql.user). The client's
//! side of it is mysql_common's; checking an answer is a server's job, done here.

use sha1::{Digest, Sha1};

use super::{from_hex, xor_scramble};

pub type Hash = [u8; 20];

/// What the server stores: SHA1(SHA1(password)).
pub fn stored_hash(password: &[u8]) -> Hash {
    Sha1::digest(Sha1::digest(password)).into()
}

/// Parses `*` followed by 40 hex digits.
pub fn parse_stored(text: &str) -> Option<Hash> {
    from_hex(text.strip_prefix('*')?)
}

/// The client's answer to `nonce`. An empty password answers with nothing.
pub fn scramble(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    mysql_common::scramble::scramble_native(nonce, password).map_or_else(Vec::new, Vec::from)
}

/// Checks a client's answer against the stored hash.
pub fn verify(response: &[u8], nonce: &[u8], stored: &Hash) -> bool {
    xor_scramble::verify::<Sha1>(response, &mask(nonce, stored), stored)
}

fn mask(nonce: &[u8], stage2: &Hash) -> Hash {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(stage2);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_hash_matches_mysql_user_table() {
        // PASSWORD('password') as MySQL and MariaDB show it.
        let h = stored_hash(b"password");
        assert_eq!(
            parse_stored("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"),
            Some(h)
        );
    }

    #[test]
    fn scramble_verifies_and_wrong_passwords_do_not() {
        let nonce = b"12345678901234567890";
        let stored = stored_hash(b"s3cret");
        assert!(verify(&scramble(b"s3cret", nonce), nonce, &stored));
        assert!(!verify(&scramble(b"s3cret!", nonce), nonce, &stored));
        assert!(!verify(
            &scramble(b"s3cret", b"09876543210987654321"),
            nonce,
            &stored
        ));
        assert!(!verify(b"", nonce, &stored));
        assert!(scramble(b"", nonce).is_empty());
    }
}
