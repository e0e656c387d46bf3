//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it:
//! no channel binding is offered, the SCRAM username is ignored in favour of the
//! startup packet's user, and verifiers use the `pg_authid` text format.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::constant_time_eq;

type HmacSha256 = Hmac<Sha256>;

const VERIFIER_PREFIX: &str = "SCRAM-SHA-256$";
/// Random bytes in the server's part of the nonce (PostgreSQL uses the same length).
const SERVER_NONCE_LEN: usize = 18;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("malformed SCRAM verifier: {0}")]
    InvalidVerifier(&'static str),
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

/// What the server stores for a password: never the password itself.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramVerifier")
            .field("iterations", &self.iterations)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl From<&pool_core::users::ScramSecret> for ScramVerifier {
    fn from(s: &pool_core::users::ScramSecret) -> Self {
        Self {
            iterations: s.iterations,
            salt: s.salt.clone(),
            stored_key: s.stored_key,
            server_key: s.server_key,
        }
    }
}

impl ScramVerifier {
    /// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
    /// (`pg_authid.rolpassword`), base64 parts in padded standard base64.
    pub fn parse(text: &str) -> Result<Self, ScramError> {
        let bad = ScramError::InvalidVerifier;
        let rest = text
            .strip_prefix(VERIFIER_PREFIX)
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
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the iteration count is not a number"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| bad("the iteration count is not a valid number"))?;
        if iterations == 0 {
            return Err(bad("the iteration count must be positive"));
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| bad("the salt is not valid base64"))?;
        if salt.is_empty() {
            return Err(bad("the salt is empty"));
        }
        let stored_key =
            decode_key(stored_key).ok_or(bad("StoredKey is not 32 bytes of base64"))?;
        let server_key =
            decode_key(server_key).ok_or(bad("ServerKey is not 32 bytes of base64"))?;
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
        let (stored_key, server_key) =
            pool_core::users::scram_keys(password.as_bytes(), salt, iterations);
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
            "{VERIFIER_PREFIX}{}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(self.stored_key),
            STANDARD.encode(self.server_key)
        )
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    let bytes = Zeroizing::new(STANDARD.decode(text).ok()?);
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
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
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    // RFC 7677, section 3.
    const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const RFC_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const RFC_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const RFC_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    // The same password and salt in PostgreSQL's pg_authid format.
    const PENCIL_VERIFIER: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

    fn pencil() -> ScramVerifier {
        ScramVerifier::from_password("pencil", &STANDARD.decode(RFC_SALT).unwrap(), 4096)
    }

    /// The RFC's exchange; the verifier is parsed rather than derived, which keeps
    /// tests that run many exchanges fast in debug builds.
    fn rfc_server() -> ScramServer {
        let verifier = ScramVerifier::parse(PENCIL_VERIFIER).unwrap();
        ScramServer::with_nonce(verifier, RFC_SERVER_NONCE)
    }

    #[test]
    fn rfc7677_test_vector() {
        let mut server = ScramServer::with_nonce(pencil(), RFC_SERVER_NONCE);
        let first = server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
        assert_eq!(first, RFC_SERVER_FIRST);
        assert!(!server.is_done());
        let last = server.client_final(RFC_CLIENT_FINAL.as_bytes()).unwrap();
        assert_eq!(last, RFC_SERVER_FINAL);
        assert!(server.is_done());
        // Nothing more is accepted.
        assert_eq!(
            server.client_final(RFC_CLIENT_FINAL.as_bytes()),
            Err(ScramError::OutOfSequence)
        );
    }

    #[test]
    fn verifier_text_round_trip() {
        let v = pencil();
        assert_eq!(v.to_text(), PENCIL_VERIFIER);
        let parsed = ScramVerifier::parse(PENCIL_VERIFIER).unwrap();
        assert_eq!(parsed, v);
        assert_eq!(parsed.to_text(), PENCIL_VERIFIER);
        let other = ScramVerifier::from_password("pencil", b"another salt", 10);
        assert_eq!(ScramVerifier::parse(&other.to_text()).unwrap(), other);
    }

    #[test]
    fn verifier_from_users_file_entry() {
        let secret = pool_core::users::ScramSecret::parse(PENCIL_VERIFIER).unwrap();
        assert_eq!(ScramVerifier::from(&secret), pencil());
    }

    #[test]
    fn verifier_debug_is_redacted() {
        let shown = format!("{:?}", pencil());
        assert!(shown.contains("4096"), "{shown}");
        assert!(
            !shown.contains("stored_key") && !shown.contains("88"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_verifiers() {
        let k = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
        let cases = [
            String::new(),
            "SCRAM-SHA-256$".into(),
            format!("SCRAM-SHA-1$4096:{RFC_SALT}${k}:{k}"),
            format!("scram-sha-256$4096:{RFC_SALT}${k}:{k}"),
            format!("SCRAM-SHA-256$4096:{RFC_SALT}${k}"),
            format!("SCRAM-SHA-256$4096{RFC_SALT}${k}:{k}"),
            format!("SCRAM-SHA-256$:{RFC_SALT}${k}:{k}"),
            format!("SCRAM-SHA-256$0:{RFC_SALT}${k}:{k}"),
            format!("SCRAM-SHA-256$+5:{RFC_SALT}${k}:{k}"),
            format!("SCRAM-SHA-256$4294967296:{RFC_SALT}${k}:{k}"),
            format!("SCRAM-SHA-256$4096:$${k}:{k}"),
            format!("SCRAM-SHA-256$4096::{k}:{k}"),
            format!("SCRAM-SHA-256$4096:{RFC_SALT}${k}:{}", &k[..40]),
            format!("SCRAM-SHA-256$4096:{RFC_SALT}${k}:{k}AAAA"),
            format!("SCRAM-SHA-256$4096:not*base64${k}:{k}"),
            format!("SCRAM-SHA-256$4096:{RFC_SALT}${k}:{k}$extra"),
        ];
        for text in &cases {
            match ScramVerifier::parse(text) {
                Err(ScramError::InvalidVerifier(_)) => {}
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    /// Runs a whole exchange with postgres-protocol's client.
    fn exchange(
        verifier: ScramVerifier,
        password: &str,
        binding: ChannelBinding,
    ) -> Result<(), ScramError> {
        let mut client = ScramSha256::new(password.as_bytes(), binding);
        let mut server = ScramServer::new(verifier);
        let first = server.client_first(client.message())?;
        client
            .update(first.as_bytes())
            .expect("client accepts server-first");
        let last = server.client_final(client.message())?;
        client
            .finish(last.as_bytes())
            .expect("client verifies the server signature");
        assert!(server.is_done());
        Ok(())
    }

    #[test]
    fn exchange_with_postgres_protocol_client() {
        let salt: [u8; 16] = rand::random();
        let v = ScramVerifier::from_password("correct horse", &salt, 4096);
        exchange(v.clone(), "correct horse", ChannelBinding::unrequested()).unwrap();
        exchange(v.clone(), "correct horse", ChannelBinding::unsupported()).unwrap();
        assert_eq!(
            exchange(v.clone(), "wrong horse", ChannelBinding::unrequested()),
            Err(ScramError::InvalidProof)
        );
        assert_eq!(
            exchange(v.clone(), "", ChannelBinding::unsupported()),
            Err(ScramError::InvalidProof)
        );
        assert_eq!(
            exchange(
                v,
                "correct horse",
                ChannelBinding::tls_server_end_point(vec![1, 2, 3])
            ),
            Err(ScramError::ChannelBinding)
        );
        exchange(pencil(), "pencil", ChannelBinding::unrequested()).unwrap();
        let parsed = ScramVerifier::parse(PENCIL_VERIFIER).unwrap();
        exchange(parsed, "pencil", ChannelBinding::unsupported()).unwrap();
    }

    #[test]
    fn server_nonce_is_random_base64() {
        let mut a = ScramServer::new(pencil());
        let mut b = ScramServer::new(pencil());
        let fa = a.client_first(b"n,,n=,r=abc").unwrap();
        let fb = b.client_first(b"n,,n=,r=abc").unwrap();
        assert_ne!(fa, fb);
        let nonce = fa.strip_prefix("r=abc").unwrap().split(',').next().unwrap();
        assert_eq!(nonce.len(), 24);
        assert_eq!(STANDARD.decode(nonce).unwrap().len(), SERVER_NONCE_LEN);
    }

    #[test]
    fn gs2_header_y_and_extensions_are_accepted() {
        let mut server = rfc_server();
        let first = server.client_first(b"y,,n=ignored,r=abc,x=ext").unwrap();
        assert!(first.starts_with("r=abc%hvYD"), "{first}");
        // c= must echo "y,," (eSws), not "n,," (biws).
        let mut s2 = rfc_server();
        s2.client_first(b"y,,n=,r=abc").unwrap();
        let nonce = format!("abc{RFC_SERVER_NONCE}");
        let msg = format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert_eq!(
            s2.client_final(msg.as_bytes()),
            Err(ScramError::ChannelBindingMismatch)
        );
        let msg = format!("c=eSws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert_eq!(
            server.client_final(msg.as_bytes()),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn malformed_client_first_is_rejected() {
        let cases: &[(&[u8], ScramError)] = &[
            (b"", ScramError::Malformed("missing GS2 header")),
            (b"n", ScramError::Malformed("missing GS2 header")),
            (b"n,", ScramError::Malformed("missing GS2 header")),
            (b"n,,", ScramError::Malformed("expected username attribute")),
            (
                b"n,,n=user",
                ScramError::Malformed("expected nonce attribute"),
            ),
            (
                b"n,,n=user,",
                ScramError::Malformed("expected nonce attribute"),
            ),
            (
                b"n,,n=user,r=",
                ScramError::Malformed("invalid client nonce"),
            ),
            (
                b"n,,n=user,r=a b",
                ScramError::Malformed("invalid client nonce"),
            ),
            (
                b"n,,r=abc",
                ScramError::Malformed("expected username attribute"),
            ),
            (
                b"n,,n=user,x=1,r=abc",
                ScramError::Malformed("expected nonce attribute"),
            ),
            (
                b"n,,n=user,r=abc,",
                ScramError::Malformed("invalid attribute"),
            ),
            (
                b"n,,n=user,r=abc,==",
                ScramError::Malformed("invalid attribute"),
            ),
            (
                b"x,,n=user,r=abc",
                ScramError::Malformed("invalid GS2 channel binding flag"),
            ),
            (
                b"p=tls-server-end-point,,n=,r=abc",
                ScramError::ChannelBinding,
            ),
            (
                b"n,a=admin,n=user,r=abc",
                ScramError::Unsupported("authorization identity"),
            ),
            (
                b"n,b,n=user,r=abc",
                ScramError::Malformed("invalid GS2 authorization identity"),
            ),
            (
                b"n,,m=ext,n=user,r=abc",
                ScramError::Unsupported("mandatory extension"),
            ),
            (
                b"n,,n=\xff,r=abc",
                ScramError::Malformed("client-first-message is not UTF-8"),
            ),
        ];
        for (msg, want) in cases {
            let mut server = rfc_server();
            assert_eq!(
                server.client_first(msg).as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
            // A failed exchange cannot go on.
            assert_eq!(
                server.client_final(RFC_CLIENT_FINAL.as_bytes()),
                Err(ScramError::OutOfSequence)
            );
        }
    }

    #[test]
    fn malformed_client_final_is_rejected() {
        let nonce = format!("rOprNGfwEbeRWgbNEkqO{RFC_SERVER_NONCE}");
        let proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let cases: Vec<(String, ScramError)> = vec![
            (
                String::new(),
                ScramError::Malformed("expected proof attribute"),
            ),
            (
                format!("c=biws,r={nonce}"),
                ScramError::Malformed("expected proof attribute"),
            ),
            (
                format!("c=biws,r={nonce},p="),
                ScramError::Malformed("proof has the wrong length"),
            ),
            (
                format!("c=biws,r={nonce},p={}", &proof[..21]),
                ScramError::Malformed("invalid base64 in proof"),
            ),
            (
                format!("c=biws,r={nonce},p=AAAA"),
                ScramError::Malformed("proof has the wrong length"),
            ),
            (
                format!("c=biws,r={nonce},p={proof},x=1"),
                ScramError::Malformed("proof must be the last attribute"),
            ),
            (
                format!("r={nonce},p={proof}"),
                ScramError::Malformed("expected channel binding attribute"),
            ),
            (
                format!("c=b!ws,r={nonce},p={proof}"),
                ScramError::Malformed("invalid base64 in channel binding"),
            ),
            (
                format!("c=eSws,r={nonce},p={proof}"),
                ScramError::ChannelBindingMismatch,
            ),
            (
                format!("c=,r={nonce},p={proof}"),
                ScramError::ChannelBindingMismatch,
            ),
            (
                format!("c=biws,p={proof}"),
                ScramError::Malformed("expected nonce attribute"),
            ),
            (
                format!("c=biws,r=rOprNGfwEbeRWgbNEkqO,p={proof}"),
                ScramError::NonceMismatch,
            ),
            (
                format!("c=biws,r={nonce}x,p={proof}"),
                ScramError::NonceMismatch,
            ),
            (
                format!("c=biws,r=XOprNGfwEbeRWgbNEkqO{RFC_SERVER_NONCE},p={proof}"),
                ScramError::NonceMismatch,
            ),
            (
                format!("c=biws,r={nonce},bad,p={proof}"),
                ScramError::Malformed("invalid attribute"),
            ),
            (
                format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVE="),
                ScramError::InvalidProof,
            ),
        ];
        for (msg, want) in cases {
            let mut server = rfc_server();
            server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
            assert_eq!(server.client_final(msg.as_bytes()), Err(want), "{msg:?}");
            assert!(!server.is_done());
            // No second attempt within the same exchange.
            assert_eq!(
                server.client_final(RFC_CLIENT_FINAL.as_bytes()),
                Err(ScramError::OutOfSequence)
            );
        }
        // An extension before the proof is part of the signed message: accepted in
        // form, so the (now wrong) proof is what fails.
        let mut server = rfc_server();
        server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
        let msg = format!("c=biws,r={nonce},x=1,p={proof}");
        assert_eq!(
            server.client_final(msg.as_bytes()),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn messages_out_of_order() {
        let mut server = rfc_server();
        assert_eq!(
            server.client_final(RFC_CLIENT_FINAL.as_bytes()),
            Err(ScramError::OutOfSequence)
        );
        let mut server = rfc_server();
        server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
        assert_eq!(
            server.client_first(RFC_CLIENT_FIRST.as_bytes()),
            Err(ScramError::OutOfSequence)
        );
    }

    #[test]
    fn random_garbage_never_panics() {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        for _ in 0..2000 {
            let len = rng.gen_range(0..64);
            let mut msg: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if rng.gen_bool(0.5) {
                // Mostly-valid shapes reach deeper into the parser.
                let prefix: &[u8] = if rng.gen_bool(0.5) {
                    b"n,,n=,"
                } else {
                    b"c=biws,r="
                };
                msg.splice(0..0, prefix.iter().copied());
            }
            let mut server = rfc_server();
            let _ = server.client_first(&msg);
            let mut server = rfc_server();
            server.client_first(RFC_CLIENT_FIRST.as_bytes()).unwrap();
            let _ = server.client_final(&msg);
            let _ = ScramVerifier::parse(&String::from_utf8_lossy(&msg));
        }
    }
}
