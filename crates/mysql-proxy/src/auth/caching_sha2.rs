//! `caching_sha2_password`, MySQL 8's default. Fast path: the client sends
//! `SHA256(password) XOR SHA256(SHA256(SHA256(password)) || nonce)` and a server that
//! knows `SHA256(SHA256(password))` checks it. Full path: the server answers
//! "perform full authentication" and the client sends the password itself, in clear
//! over TLS, or RSA-encrypted without it (`rsa_exchange`). The client's fast-path
//! scramble is mysql_common's; checking an answer is a server's job, done here.

use sha2::{Digest, Sha256};

use super::{from_hex, xor_scramble};

pub type Hash = [u8; 32];

/// Status bytes of the AuthMoreData packets (0x01 marker) of this plugin.
pub const REQUEST_PUBLIC_KEY: u8 = 0x02;
pub const FAST_AUTH_SUCCESS: u8 = 0x03;
pub const PERFORM_FULL_AUTH: u8 = 0x04;

/// SHA256(SHA256(password)): what sluice checks fast-path answers against.
pub fn stored_hash(password: &[u8]) -> Hash {
    Sha256::digest(Sha256::digest(password)).into()
}

/// Parses 64 hex digits.
pub fn parse_stored(text: &str) -> Option<Hash> {
    from_hex(text)
}

/// The client's fast-path answer to `nonce`. An empty password answers with nothing.
pub fn scramble(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    mysql_common::scramble::scramble_sha256(nonce, password).map_or_else(Vec::new, Vec::from)
}

/// Checks a fast-path answer against the stored hash.
pub fn verify(response: &[u8], nonce: &[u8], stored: &Hash) -> bool {
    xor_scramble::verify::<Sha256>(response, &mask(nonce, stored), stored)
}

fn mask(nonce: &[u8], stage2: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(stage2);
    h.update(nonce);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published vectors (the Go MySQL driver's test suite) for this scramble.
    #[test]
    fn published_vectors() {
        let nonce = [
            10, 47, 74, 111, 75, 73, 34, 48, 88, 76, 114, 74, 37, 13, 3, 80, 82, 2, 23, 21,
        ];
        for (password, expected) in [
            (
                "secret",
                "f490e76f66d9d86665ce54d98c78d0acfe2fb0b08b423da807144873d30b312c",
            ),
            (
                "secret2",
                "abc3934a012cf342e876071c8ee202de51785b430258a7a0138bc79c4d800bc6",
            ),
        ] {
            let got = scramble(password.as_bytes(), &nonce);
            let hex: String = got.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, expected, "{password}");
            assert!(verify(&got, &nonce, &stored_hash(password.as_bytes())));
        }
    }

    #[test]
    fn wrong_password_or_nonce_fails() {
        let nonce = b"abcdefghijklmnopqrst";
        let stored = stored_hash(b"pw");
        assert!(!verify(&scramble(b"pw2", nonce), nonce, &stored));
        assert!(!verify(
            &scramble(b"pw", b"bbcdefghijklmnopqrst"),
            nonce,
            &stored
        ));
        assert!(!verify(&[0; 31], nonce, &stored));
        let hex: String = stored.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_stored(&hex), Some(stored));
    }
}
