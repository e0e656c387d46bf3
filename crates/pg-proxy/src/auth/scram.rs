//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it:
//! no channel binding is offered, the SCRAM username is ignored in favour of the
//! startup packet's user, and verifiers use the `pg_authid` text format.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::constant_time_eq;
/// The verifier is parsed with the users file, in pool-core.
pub use pool_core::users::ScramVerifier;

type HmacSha256 = Hmac<Sha256>;

/// Random bytes in the server's part of the nonce (PostgreSQL uses the same length).
const SERVER_NONCE_LEN: usize = 18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("unsupported SCRAM feature: {0}")]
    Unsupported(&'static str),
    #[error("SCRAM nonce does not match")]
    NonceMismatch,
    #[error("client requires SCRAM channel binding, which is not offered")]
    ChannelBinding,
    #[error("SCRAM channel binding data does not match")]
    ChannelBindingMismatch,
    #[error("SCRAM proof is invalid")]
    InvalidProof,
    #[error("SCRAM message out of sequence")]
    OutOfSequence,
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

enum State {
    AwaitingClientFirst,
    AwaitingClientFinal {
        /// The GS2 header exactly as the client sent it, e.g. `n,,`.
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        /// Client nonce followed by server nonce.
        nonce: String,
    },
    Done,
    /// An exchange that failed cannot be resumed.
    Failed,
}

/// One SCRAM-SHA-256 exchange with one client. Feed it the client's two messages in
/// order; any error ends the exchange.
pub struct ScramServer {
    verifier: ScramVerifier,
    server_nonce: String,
    state: State,
}

impl ScramServer {
    pub fn new(verifier: ScramVerifier) -> Self {
        let raw: [u8; SERVER_NONCE_LEN] = rand::random();
        Self::with_server_nonce(verifier, STANDARD.encode(raw))
    }

    /// An exchange with a fixed server nonce, for reproducing published test vectors.
    #[cfg(test)]
    pub(crate) fn with_nonce(verifier: ScramVerifier, server_nonce: &str) -> Self {
        assert!(valid_nonce(server_nonce));
        Self::with_server_nonce(verifier, server_nonce.to_owned())
    }

    fn with_server_nonce(verifier: ScramVerifier, server_nonce: String) -> Self {
        Self {
            verifier,
            server_nonce,
            state: State::AwaitingClientFirst,
        }
    }

    /// Whether the exchange finished successfully.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Takes the client-first-message (the SASLInitialResponse data) and returns the
    /// server-first-message.
    pub fn client_first(&mut self, msg: &[u8]) -> Result<String, ScramError> {
        if !matches!(self.state, State::AwaitingClientFirst) {
            self.state = State::Failed;
            return Err(ScramError::OutOfSequence);
        }
        match self.parse_client_first(msg) {
            Ok((next, reply)) => {
                self.state = next;
                Ok(reply)
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// Takes the client-final-message (the SASLResponse data) and, if the proof is
    /// right, returns the server-final-message `v=<ServerSignature>`.
    pub fn client_final(&mut self, msg: &[u8]) -> Result<String, ScramError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::AwaitingClientFinal {
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
        } = state
        else {
            return Err(ScramError::OutOfSequence);
        };
        let reply =
            self.check_client_final(msg, &gs2_header, &client_first_bare, &server_first, &nonce)?;
        self.state = State::Done;
        Ok(reply)
    }

    fn parse_client_first(&self, msg: &[u8]) -> Result<(State, String), ScramError> {
        let msg = std::str::from_utf8(msg)
            .map_err(|_| ScramError::Malformed("client-first-message is not UTF-8"))?;

        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let (flag, rest) = msg
            .split_once(',')
            .ok_or(ScramError::Malformed("missing GS2 header"))?;
        match flag {
            // "y": the client supports channel binding but thinks we do not, which is
            // true: SCRAM-SHA-256-PLUS is never advertised.
            "n" | "y" => {}
            _ if flag.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed("invalid GS2 channel binding flag")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("missing GS2 header"))?;
        if !authzid.is_empty() {
            return Err(if authzid.starts_with("a=") {
                ScramError::Unsupported("authorization identity")
            } else {
                ScramError::Malformed("invalid GS2 authorization identity")
            });
        }
        let gs2_header = &msg[..msg.len() - bare.len()];

        // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
        let mut attrs = bare.split(',');
        let first = attrs.next().unwrap_or("");
        if first.starts_with("m=") {
            return Err(ScramError::Unsupported("mandatory extension"));
        }
        // The SCRAM username is ignored: the startup packet's user is authenticated.
        if !first.starts_with("n=") {
            return Err(ScramError::Malformed("expected username attribute"));
        }
        let client_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("expected nonce attribute"))?;
        if client_nonce.is_empty() || !valid_nonce(client_nonce) {
            return Err(ScramError::Malformed("invalid client nonce"));
        }
        for ext in attrs {
            check_extension(ext)?;
        }

        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&self.verifier.salt),
            self.verifier.iterations
        );
        let next = State::AwaitingClientFinal {
            gs2_header: gs2_header.to_owned(),
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok((next, server_first))
    }

    fn check_client_final(
        &self,
        msg: &[u8],
        gs2_header: &str,
        client_first_bare: &str,
        server_first: &str,
        nonce: &str,
    ) -> Result<String, ScramError> {
        let msg = std::str::from_utf8(msg)
            .map_err(|_| ScramError::Malformed("client-final-message is not UTF-8"))?;

        // client-final-message = channel-binding "," nonce ["," extensions] "," proof
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("expected proof attribute"))?;
        if proof.contains(',') {
            return Err(ScramError::Malformed("proof must be the last attribute"));
        }
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("expected channel binding attribute"))?;
        let cbind = STANDARD
            .decode(cbind)
            .map_err(|_| ScramError::Malformed("invalid base64 in channel binding"))?;
        // Without channel binding the client echoes its GS2 header.
        if cbind != gs2_header.as_bytes() {
            return Err(ScramError::ChannelBindingMismatch);
        }
        let client_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("expected nonce attribute"))?;
        if client_nonce != nonce {
            return Err(ScramError::NonceMismatch);
        }
        for ext in attrs {
            check_extension(ext)?;
        }
        let proof = Zeroizing::new(
            STANDARD
                .decode(proof)
                .map_err(|_| ScramError::Malformed("invalid base64 in proof"))?,
        );
        if proof.len() != 32 {
            return Err(ScramError::Malformed("proof has the wrong length"));
        }

        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let mut client_key = Zeroizing::new([0u8; 32]);
        for (k, (p, s)) in client_key
            .iter_mut()
            .zip(proof.iter().zip(client_signature.iter()))
        {
            *k = p ^ s;
        }
        let computed: [u8; 32] = Sha256::digest(client_key.as_slice()).into();
        if !constant_time_eq(&computed, &self.verifier.stored_key) {
            return Err(ScramError::InvalidProof);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)))
    }
}

/// Printable ASCII except ',' (RFC 5802 `printable`).
fn valid_nonce(nonce: &str) -> bool {
    nonce
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// An optional extension attribute: a letter, '=', and a value.
fn check_extension(attr: &str) -> Result<(), ScramError> {
    let b = attr.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b'=' {
        Ok(())
    } else {
        Err(ScramError::Malformed("invalid attribute"))
    }
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
