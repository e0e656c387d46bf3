//! The untagged first packet of a connection: StartupMessage, SSLRequest, GSSENCRequest
//! or CancelRequest. Layout: int32 length (counting itself), int32 code, payload.

use thiserror::Error;

/// Largest startup packet accepted, as PostgreSQL does (MAX_STARTUP_PACKET_LENGTH).
pub const MAX_STARTUP_LEN: usize = 10_000;

pub const PROTOCOL_3_0: u32 = 196_608;
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
pub const GSSENC_REQUEST_CODE: u32 = 80_877_104;
pub const CANCEL_REQUEST_CODE: u32 = 80_877_102;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StartupError {
    #[error("invalid startup packet length {0}")]
    BadLength(u32),
    #[error("unsupported frontend protocol {major}.{minor}: server supports 3.0")]
    UnsupportedVersion { major: u16, minor: u16 },
    #[error("malformed startup packet: {0}")]
    Malformed(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    Cancel { process_id: i32, secret_key: i32 },
    Startup(StartupParams),
}

/// Parameters of a StartupMessage, in the order the client sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupParams {
    pub pairs: Vec<(String, String)>,
}

impl StartupParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Validates the 4-byte length prefix. Returns the total packet length (including the prefix)
/// once at least 4 bytes are available.
pub fn packet_len(prefix: [u8; 4]) -> Result<usize, StartupError> {
    let len = u32::from_be_bytes(prefix);
    if !(8..=MAX_STARTUP_LEN as u32).contains(&len) {
        return Err(StartupError::BadLength(len));
    }
    Ok(len as usize)
}

/// Decodes a whole startup packet body (everything after the length prefix).
pub fn parse(body: &[u8]) -> Result<StartupPacket, StartupError> {
    if body.len() < 4 {
        return Err(StartupError::Malformed("missing protocol code"));
    }
    let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let rest = &body[4..];
    match code {
        SSL_REQUEST_CODE => Ok(StartupPacket::SslRequest),
        GSSENC_REQUEST_CODE => Ok(StartupPacket::GssEncRequest),
        CANCEL_REQUEST_CODE => {
            if rest.len() != 8 {
                return Err(StartupError::Malformed("cancel request must carry 8 bytes"));
            }
            Ok(StartupPacket::Cancel {
                process_id: i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
                secret_key: i32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]),
            })
        }
        PROTOCOL_3_0 => parse_params(rest).map(StartupPacket::Startup),
        other => Err(StartupError::UnsupportedVersion {
            major: (other >> 16) as u16,
            minor: (other & 0xffff) as u16,
        }),
    }
}

fn parse_params(mut rest: &[u8]) -> Result<StartupParams, StartupError> {
    let mut pairs = Vec::new();
    loop {
        let (name, after) = cstr(rest)?;
        if name.is_empty() {
            if !after.is_empty() {
                return Err(StartupError::Malformed("data after the terminator"));
            }
            break;
        }
        let (value, after) = cstr(after)?;
        pairs.push((name.to_owned(), value.to_owned()));
        rest = after;
    }
    Ok(StartupParams { pairs })
}

fn cstr(buf: &[u8]) -> Result<(&str, &[u8]), StartupError> {
    let nul = buf
        .iter()
        .position(|&b| b == 0)
        .ok_or(StartupError::Malformed("unterminated string"))?;
    let s = std::str::from_utf8(&buf[..nul]).map_err(|_| StartupError::Malformed("not UTF-8"))?;
    Ok((s, &buf[nul + 1..]))
}

/// Encodes a StartupMessage (used towards the server).
pub fn encode_startup(out: &mut bytes::BytesMut, pairs: &[(&str, &str)]) {
    use bytes::BufMut;
    let start = out.len();
    out.put_u32(0);
    out.put_u32(PROTOCOL_3_0);
    for (k, v) in pairs {
        out.put_slice(k.as_bytes());
        out.put_u8(0);
        out.put_slice(v.as_bytes());
        out.put_u8(0);
    }
    out.put_u8(0);
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Encodes a CancelRequest (used towards the server).
pub fn encode_cancel(process_id: i32, secret_key: i32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&16u32.to_be_bytes());
    b[4..8].copy_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
    b[8..12].copy_from_slice(&process_id.to_be_bytes());
    b[12..].copy_from_slice(&secret_key.to_be_bytes());
    b
}

/// The 8-byte SSLRequest packet.
pub fn encode_ssl_request() -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&8u32.to_be_bytes());
    b[4..].copy_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_startup_round_trip() {
        let mut out = bytes::BytesMut::new();
        encode_startup(&mut out, &[("user", "alice"), ("database", "app")]);
        let len = packet_len(out[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, out.len());
        match parse(&out[4..]).unwrap() {
            StartupPacket::Startup(p) => {
                assert_eq!(p.get("user"), Some("alice"));
                assert_eq!(p.get("database"), Some("app"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parses_cancel_and_ssl() {
        let c = encode_cancel(7, -3);
        assert_eq!(
            parse(&c[4..]).unwrap(),
            StartupPacket::Cancel {
                process_id: 7,
                secret_key: -3
            }
        );
        assert_eq!(
            parse(&encode_ssl_request()[4..]).unwrap(),
            StartupPacket::SslRequest
        );
    }

    #[test]
    fn rejects_bad_lengths_and_versions() {
        assert!(packet_len([0, 0, 0, 4]).is_err());
        assert!(packet_len([0x7f, 0xff, 0xff, 0xff]).is_err());
        let mut body = Vec::new();
        body.extend_from_slice(&0x0002_0000u32.to_be_bytes());
        assert_eq!(
            parse(&body),
            Err(StartupError::UnsupportedVersion { major: 2, minor: 0 })
        );
    }

    #[test]
    fn rejects_truncated_params() {
        let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
        body.extend_from_slice(b"user\0alice");
        assert!(parse(&body).is_err());
    }
}
