//! The RSA public-key exchange of `caching_sha2_password`, for full authentication
//! without TLS. The side that needs the password (the server) hands out its public key
//! on request (`0x02`); the other side sends `(password || NUL) XOR scramble`, the
//! scramble repeated as needed, encrypted with RSA-OAEP (SHA-1 and MGF1-SHA-1, as
//! OpenSSL's `RSA_PKCS1_OAEP_PADDING` that MySQL 8 uses).

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::{Generate, PrivateKey, PublicKey};
use zeroize::Zeroizing;

/// Why a key could not be loaded or a password not encrypted.
#[derive(Debug, thiserror::Error)]
pub enum RsaError {
    #[error("not an RSA private key in PEM (PKCS#8 or PKCS#1)")]
    BadPrivateKey,
    #[error("the server's public key is not an RSA public key in PEM")]
    BadPublicKey,
    #[error("RSA encryption failed: {0}")]
    Encrypt(String),
}

/// sluice's key pair for clients that log in without TLS.
pub struct RsaKey {
    private: PrivateKey,
    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo), what clients expect.
    public_pem: String,
}

impl RsaKey {
    /// A fresh 3072-bit key (about 0.2 s in an optimised build).
    pub fn generate() -> Self {
        Self::from_private(PrivateKey::generate())
    }

    /// Loads a PEM private key, PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`), as `openssl genrsa` and MySQL write them.
    pub fn from_pem(pem: &str) -> Result<Self, RsaError> {
        let private = PrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| PrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| RsaError::BadPrivateKey)?;
        Ok(Self::from_private(private))
    }

    fn from_private(private: PrivateKey) -> Self {
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA public key always encodes");
        Self {
            private,
            public_pem,
        }
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The password a client encrypted for `scramble`, without its NUL; `None` when
    /// the ciphertext does not decrypt.
    pub fn decrypt_password(
        &self,
        ciphertext: &[u8],
        scramble: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let mut plain = Zeroizing::new(
            self.private
                .oaep_decrypt::<sha1_rsa::Sha1>(ciphertext)
                .ok()?,
        );
        xor_with_scramble(&mut plain, scramble);
        if plain.last() == Some(&0) {
            plain.pop();
        }
        Some(plain)
    }
}

/// Encrypts `password` for a server whose public key is `public_pem`.
pub fn encrypt_password(
    public_pem: &[u8],
    password: &[u8],
    scramble: &[u8],
) -> Result<Vec<u8>, RsaError> {
    let pem = std::str::from_utf8(public_pem).map_err(|_| RsaError::BadPublicKey)?;
    // Servers end the PEM with a newline and sometimes a NUL.
    let pem = pem.trim_end_matches(['\0', '\n', '\r', ' ']);
    let key = PublicKey::from_public_key_pem(pem).map_err(|_| RsaError::BadPublicKey)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(password.len() + 1));
    plain.extend_from_slice(password);
    plain.push(0);
    xor_with_scramble(&mut plain, scramble);
    key.oaep_encrypt::<sha1_rsa::Sha1>(&plain)
        .map_err(|e| RsaError::Encrypt(e.to_string()))
}

fn xor_with_scramble(data: &mut [u8], scramble: &[u8]) {
    if scramble.is_empty() {
        return;
    }
    for (b, s) in data.iter_mut().zip(scramble.iter().cycle()) {
        *b ^= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// Generating a key is slow without optimisations: one for all tests.
    fn key() -> &'static RsaKey {
        static KEY: OnceLock<RsaKey> = OnceLock::new();
        KEY.get_or_init(RsaKey::generate)
    }

    const SCRAMBLE: &[u8; 20] = b"abcdefghij0123456789";

    #[test]
    fn a_password_encrypted_with_the_public_key_decrypts_with_the_scramble() {
        let k = key();
        assert!(k.public_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
        // Longer than the scramble, so that the scramble repeats.
        let password = b"a password longer than twenty bytes";
        let mut pem = k.public_pem().as_bytes().to_vec();
        pem.push(0);
        let ct = encrypt_password(&pem, password, SCRAMBLE).unwrap();
        assert_eq!(ct.len(), 384);
        let plain = k.decrypt_password(&ct, SCRAMBLE).unwrap();
        assert_eq!(plain.as_slice(), password);
        // Another scramble gives another password: a replayed ciphertext is useless.
        let other = k.decrypt_password(&ct, b"01234567890123456789").unwrap();
        assert_ne!(other.as_slice(), password);
    }

    #[test]
    fn garbage_does_not_decrypt_and_bad_keys_are_refused() {
        let k = key();
        assert!(k.decrypt_password(&[7u8; 384], SCRAMBLE).is_none());
        assert!(k.decrypt_password(b"short", SCRAMBLE).is_none());
        assert!(matches!(
            encrypt_password(b"-----BEGIN PUBLIC KEY-----\nAAAA\n", b"pw", SCRAMBLE),
            Err(RsaError::BadPublicKey)
        ));
        assert!(matches!(
            RsaKey::from_pem("not a key"),
            Err(RsaError::BadPrivateKey)
        ));
    }

    #[test]
    fn keys_load_from_pkcs8_pem() {
        use rsa::pkcs8::EncodePrivateKey;
        let pem = key().private.to_pkcs8_pem(LineEnding::LF).unwrap();
        let loaded = RsaKey::from_pem(&pem).unwrap();
        assert_eq!(loaded.public_pem(), key().public_pem());
    }
}
