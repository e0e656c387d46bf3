//! Checking a scrambled password answer, the scheme both MySQL password plugins use:
//! the client sends `H(password) XOR mask`, where the mask mixes the nonce with what
//! the server stores, `H(H(password))`. Unmasking gives `H(password)`, whose hash must
//! be the stored value. The plugins differ only in the hash and how the mask is made.

use sha2::Digest;

use super::equal;

/// Whether `response`, unmasked with `mask`, hashes (with `D`) to `stored`.
pub fn verify<D: Digest>(response: &[u8], mask: &[u8], stored: &[u8]) -> bool {
    if response.len() != stored.len() || mask.len() != stored.len() {
        return false;
    }
    let unmasked: Vec<u8> = response.iter().zip(mask).map(|(a, b)| a ^ b).collect();
    equal(&D::digest(&unmasked), stored)
}
