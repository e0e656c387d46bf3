//! The peer channel's messages, pure. The server opens with a random nonce; the client
//! sends one request, `length (u16) | body | HMAC-SHA256(secret, nonce | body)`, so a
//! request is accepted only from a holder of the shared secret and cannot be replayed
//! on another connection; the server answers `outcome (u8) | its replica id (u16)`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::identity::ReplicaId;

pub const NONCE_LEN: usize = 16;
pub const MAC_LEN: usize = 32;
pub const REPLY_LEN: usize = 3;
/// Longest request body (a KILL carries a user name).
pub const MAX_BODY: usize = 1024;

const HELLO: u8 = 0;
const CANCEL: u8 = 1;
const KILL: u8 = 2;

/// What one replica asks of another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Only the peer's id, in the reply.
    Hello,
    /// A PostgreSQL CancelRequest's key.
    Cancel { process_id: i32, secret_key: i32 },
    /// `KILL [QUERY|CONNECTION] id` by a client logged in to sluice as `user`.
    Kill {
        connection_id: u32,
        user: String,
        connection: bool,
    },
}

/// How the peer carried the request out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The client is between transactions: nothing to cancel.
    Idle,
    /// No such key here.
    Unknown,
    /// The key is known but the request may not act on it (another user's connection).
    Refused,
    Failed,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("peer request malformed: {0}")]
    Malformed(&'static str),
    #[error("peer request not signed with the shared secret")]
    BadSignature,
}

impl Request {
    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Request::Hello => out.push(HELLO),
            Request::Cancel {
                process_id,
                secret_key,
            } => {
                out.push(CANCEL);
                out.extend_from_slice(&process_id.to_be_bytes());
                out.extend_from_slice(&secret_key.to_be_bytes());
            }
            Request::Kill {
                connection_id,
                user,
                connection,
            } => {
                out.push(KILL);
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.push(u8::from(*connection));
                out.extend_from_slice(user.as_bytes());
            }
        }
    }

    pub fn decode_body(body: &[u8]) -> Result<Self, WireError> {
        let (&kind, rest) = body.split_first().ok_or(WireError::Malformed("empty"))?;
        match (kind, rest.len()) {
            (HELLO, 0) => Ok(Request::Hello),
            (CANCEL, 8) => Ok(Request::Cancel {
                process_id: i32::from_be_bytes(rest[..4].try_into().expect("4 bytes")),
                secret_key: i32::from_be_bytes(rest[4..].try_into().expect("4 bytes")),
            }),
            (KILL, n) if n >= 5 => Ok(Request::Kill {
                connection_id: u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")),
                connection: rest[4] != 0,
                user: String::from_utf8(rest[5..].to_vec())
                    .map_err(|_| WireError::Malformed("user name not UTF-8"))?,
            }),
            _ => Err(WireError::Malformed("unknown kind or length")),
        }
    }

    /// The signed frame for a server that sent `nonce`.
    pub fn encode(&self, nonce: &[u8; NONCE_LEN], secret: &[u8]) -> Vec<u8> {
        let mut body = Vec::with_capacity(16);
        self.encode_body(&mut body);
        let mut frame = Vec::with_capacity(2 + body.len() + MAC_LEN);
        frame.extend_from_slice(&(body.len() as u16).to_be_bytes());
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&sign(secret, nonce, &body));
        frame
    }
}

fn mac(secret: &[u8], nonce: &[u8; NONCE_LEN], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(nonce);
    mac.update(body);
    mac
}

fn sign(secret: &[u8], nonce: &[u8; NONCE_LEN], body: &[u8]) -> [u8; MAC_LEN] {
    mac(secret, nonce, body).finalize().into_bytes().into()
}

/// Checks a request's signature (in constant time) and reads it.
pub fn verify(
    secret: &[u8],
    nonce: &[u8; NONCE_LEN],
    body: &[u8],
    signature: &[u8],
) -> Result<Request, WireError> {
    mac(secret, nonce, body)
        .verify_slice(signature)
        .map_err(|_| WireError::BadSignature)?;
    Request::decode_body(body)
}

impl Outcome {
    fn byte(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Idle => 1,
            Outcome::Unknown => 2,
            Outcome::Refused => 3,
            Outcome::Failed => 4,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Outcome::Done,
            1 => Outcome::Idle,
            2 => Outcome::Unknown,
            3 => Outcome::Refused,
            4 => Outcome::Failed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Idle => "idle",
            Outcome::Unknown => "unknown",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

pub fn encode_reply(outcome: Outcome, id: ReplicaId) -> [u8; REPLY_LEN] {
    let [hi, lo] = id.get().to_be_bytes();
    [outcome.byte(), hi, lo]
}

pub fn decode_reply(reply: [u8; REPLY_LEN]) -> Result<(Outcome, ReplicaId), WireError> {
    let outcome = Outcome::from_byte(reply[0]).ok_or(WireError::Malformed("outcome"))?;
    let id = ReplicaId::new(u16::from_be_bytes([reply[1], reply[2]]))
        .ok_or(WireError::Malformed("replica id"))?;
    Ok((outcome, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(frame: &[u8]) -> (&[u8], &[u8]) {
        let len = u16::from_be_bytes([frame[0], frame[1]]) as usize;
        (&frame[2..2 + len], &frame[2 + len..])
    }

    #[test]
    fn requests_round_trip_when_signed_with_the_secret() {
        let nonce = [7u8; NONCE_LEN];
        for req in [
            Request::Hello,
            Request::Cancel {
                process_id: -5,
                secret_key: 123_456,
            },
            Request::Kill {
                connection_id: 0xdead_beef,
                user: "app-ü".into(),
                connection: true,
            },
        ] {
            let frame = req.encode(&nonce, b"shared");
            let (body, signature) = split(&frame);
            assert_eq!(verify(b"shared", &nonce, body, signature), Ok(req.clone()));
            // Another secret, or the same request on another connection, is refused.
            assert_eq!(
                verify(b"other", &nonce, body, signature),
                Err(WireError::BadSignature)
            );
            assert_eq!(
                verify(b"shared", &[8u8; NONCE_LEN], body, signature),
                Err(WireError::BadSignature)
            );
        }
    }

    #[test]
    fn malformed_bodies_and_replies_are_refused() {
        assert!(Request::decode_body(&[]).is_err());
        assert!(Request::decode_body(&[CANCEL, 1, 2]).is_err());
        assert!(Request::decode_body(&[9]).is_err());
        assert!(Request::decode_body(&[KILL, 0, 0, 0, 1, 0, 0xff]).is_err());
        assert!(decode_reply([9, 0, 0]).is_err());
        assert!(decode_reply([0, 0xff, 0xff]).is_err());
        let id = ReplicaId::new(700).unwrap();
        assert_eq!(
            decode_reply(encode_reply(Outcome::Refused, id)),
            Ok((Outcome::Refused, id))
        );
    }
}
