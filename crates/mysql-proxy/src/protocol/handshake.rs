//! The connection phase: the server's greeting (HandshakeV10), the client's SSL
//! request and its handshake response (HandshakeResponse41), and auth switches.

use bytes::{BufMut, BytesMut};
use mysql_common::constants::CapabilityFlags;
use mysql_common::io::ParseBuf;
use mysql_common::packets::SslRequest;
use mysql_common::proto::MySerialize;

use super::capabilities as caps;
use super::lenenc::{put_lenenc_bytes, Reader};
use super::packet;

/// A packet that does not parse as what the protocol says comes next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {0}")]
pub struct Malformed(pub &'static str);

/// Length of the random challenge both auth plugins use.
pub const SCRAMBLE_LEN: usize = 20;

/// The server's first packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub server_version: String,
    pub connection_id: u32,
    pub scramble: [u8; SCRAMBLE_LEN],
    pub capabilities: u32,
    pub collation: u8,
    pub status: u16,
    pub auth_plugin: String,
}

impl Greeting {
    pub fn encode(&self, out: &mut BytesMut) {
        let start = packet::begin(out, 0);
        out.put_u8(10);
        out.put_slice(self.server_version.as_bytes());
        out.put_u8(0);
        out.put_u32_le(self.connection_id);
        out.put_slice(&self.scramble[..8]);
        out.put_u8(0);
        out.put_u16_le(self.capabilities as u16);
        out.put_u8(self.collation);
        out.put_u16_le(self.status);
        out.put_u16_le((self.capabilities >> 16) as u16);
        out.put_u8(SCRAMBLE_LEN as u8 + 1);
        out.put_slice(&[0; 10]);
        out.put_slice(&self.scramble[8..]);
        out.put_u8(0);
        out.put_slice(self.auth_plugin.as_bytes());
        out.put_u8(0);
        packet::end(out, start);
    }

    pub fn parse(payload: &[u8]) -> Result<Greeting, Malformed> {
        const WHAT: &str = "server greeting";
        let mut r = Reader::new(payload);
        if r.u8() != Some(10) {
            return Err(Malformed("server greeting (protocol version is not 10)"));
        }
        let version = r.nul_str().ok_or(Malformed(WHAT))?;
        let connection_id = r.u32().ok_or(Malformed(WHAT))?;
        let part1 = r.take(8).ok_or(Malformed(WHAT))?;
        r.u8().ok_or(Malformed(WHAT))?;
        let cap_low = r.u16().ok_or(Malformed(WHAT))?;
        let collation = r.u8().unwrap_or(0);
        let status = r.u16().unwrap_or(0);
        let cap_high = r.u16().unwrap_or(0);
        let capabilities = u32::from(cap_low) | u32::from(cap_high) << 16;
        let data_len = r.u8().unwrap_or(0);
        // Reserved (MariaDB puts its extended capabilities in the last four bytes).
        r.take(10);
        let mut scramble = [0u8; SCRAMBLE_LEN];
        scramble[..8].copy_from_slice(part1);
        if capabilities & caps::SECURE_CONNECTION != 0 {
            let len2 = usize::from(data_len).saturating_sub(8).max(13);
            let part2 = r.take(len2).or_else(|| Some(r.rest())).unwrap_or(&[]);
            let n = part2.len().min(SCRAMBLE_LEN - 8);
            scramble[8..8 + n].copy_from_slice(&part2[..n]);
        }
        let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 {
            let rest = r.rest();
            let end = memchr::memchr(0, rest).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        } else {
            "mysql_native_password".to_owned()
        };
        Ok(Greeting {
            server_version: String::from_utf8_lossy(version).into_owned(),
            connection_id,
            scramble,
            capabilities,
            collation,
            status,
            auth_plugin,
        })
    }
}

/// The client's answer to the greeting. With only the fixed part present and the SSL
/// flag set, it is an SSL request: TLS starts next and the full response follows.
#[derive(Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    pub capabilities: u32,
    pub max_packet: u32,
    pub collation: u8,
    pub username: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
}

impl std::fmt::Debug for HandshakeResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeResponse")
            .field("capabilities", &format_args!("{:#x}", self.capabilities))
            .field("username", &self.username)
            .field("database", &self.database)
            .field("auth_plugin", &self.auth_plugin)
            .finish_non_exhaustive()
    }
}

/// Length of the fixed part, which is the whole SSL request.
pub const FIXED_LEN: usize = 32;

/// Whether a client's first packet is an SSL request rather than a full response.
pub fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == FIXED_LEN
        && ParseBuf(payload)
            .parse::<SslRequest>(())
            .is_ok_and(|r| r.capabilities().contains(CapabilityFlags::CLIENT_SSL))
}

impl HandshakeResponse {
    pub fn parse(payload: &[u8]) -> Result<HandshakeResponse, Malformed> {
        const WHAT: &str = "handshake response";
        let mut r = Reader::new(payload);
        let capabilities = r.u32().ok_or(Malformed(WHAT))?;
        if capabilities & caps::PROTOCOL_41 == 0 {
            return Err(Malformed(
                "handshake response (clients older than protocol 4.1 are not supported)",
            ));
        }
        let max_packet = r.u32().ok_or(Malformed(WHAT))?;
        let collation = r.u8().ok_or(Malformed(WHAT))?;
        r.take(23).ok_or(Malformed(WHAT))?;
        let username = r.nul_str().ok_or(Malformed(WHAT))?;
        let auth_response = if capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            r.lenenc_bytes().ok_or(Malformed(WHAT))?
        } else if capabilities & caps::SECURE_CONNECTION != 0 {
            let n = r.u8().ok_or(Malformed(WHAT))?;
            r.take(usize::from(n)).ok_or(Malformed(WHAT))?
        } else {
            r.nul_str().ok_or(Malformed(WHAT))?
        };
        let database = if capabilities & caps::CONNECT_WITH_DB != 0 && r.remaining() > 0 {
            let db = r.nul_str().ok_or(Malformed(WHAT))?;
            (!db.is_empty()).then(|| String::from_utf8_lossy(db).into_owned())
        } else {
            None
        };
        let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 && r.remaining() > 0 {
            // Some clients omit the final NUL.
            let rest = r.rest();
            let end = memchr::memchr(0, rest).unwrap_or(rest.len());
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        } else {
            None
        };
        Ok(HandshakeResponse {
            capabilities,
            max_packet,
            collation,
            username: String::from_utf8_lossy(username).into_owned(),
            auth_response: auth_response.to_vec(),
            database,
            auth_plugin,
        })
    }

    /// Writes the fixed part alone: an SSL request.
    pub fn encode_ssl_request(&self, out: &mut BytesMut, seq: u8) {
        let capabilities = CapabilityFlags::from_bits_truncate(self.capabilities | caps::SSL);
        let request = SslRequest::new(capabilities, self.max_packet, self.collation);
        let mut payload = Vec::with_capacity(FIXED_LEN);
        request.serialize(&mut payload);
        packet::write_packet(out, seq, &payload);
    }

    pub fn encode(&self, out: &mut BytesMut, seq: u8) {
        let start = packet::begin(out, seq);
        let mut capabilities = self.capabilities;
        if self.database.is_some() {
            capabilities |= caps::CONNECT_WITH_DB;
        }
        self.put_fixed(out, capabilities);
        out.put_slice(self.username.as_bytes());
        out.put_u8(0);
        put_lenenc_bytes(out, &self.auth_response);
        if let Some(db) = &self.database {
            out.put_slice(db.as_bytes());
            out.put_u8(0);
        }
        if let Some(plugin) = &self.auth_plugin {
            out.put_slice(plugin.as_bytes());
            out.put_u8(0);
        }
        packet::end(out, start);
    }

    fn put_fixed(&self, out: &mut BytesMut, capabilities: u32) {
        out.put_u32_le(capabilities);
        out.put_u32_le(self.max_packet);
        out.put_u8(self.collation);
        out.put_slice(&[0; 23]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packet::{Header, HEADER_LEN};

    fn greeting() -> Greeting {
        Greeting {
            server_version: "8.4.4-sluice".into(),
            connection_id: 77,
            scramble: *b"abcdefghijklmnopqrst",
            capabilities: caps::OFFERED_TO_CLIENTS | caps::SSL,
            collation: 45,
            status: 2,
            auth_plugin: "caching_sha2_password".into(),
        }
    }

    #[test]
    fn greeting_round_trips() {
        let g = greeting();
        let mut out = BytesMut::new();
        g.encode(&mut out);
        let h = Header::parse(&out).unwrap();
        assert_eq!(h.seq, 0);
        assert_eq!(h.len, out.len() - HEADER_LEN);
        assert_eq!(Greeting::parse(&out[HEADER_LEN..]), Ok(g));
    }

    #[test]
    fn mariadb_greeting_parses() {
        // Captured from MariaDB 10.11: version, thread 5, native password plugin.
        let mut p = vec![10];
        p.extend_from_slice(b"5.5.5-10.11.6-MariaDB-0+deb12u1\0");
        p.extend_from_slice(&5u32.to_le_bytes());
        p.extend_from_slice(b"12345678\0");
        p.extend_from_slice(&0xF7FEu16.to_le_bytes());
        p.push(45);
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&0x81BFu16.to_le_bytes());
        p.push(21);
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&[0x1D, 0, 0, 0]);
        p.extend_from_slice(b"9abcdefghijk\0");
        p.extend_from_slice(b"mysql_native_password\0");
        let g = Greeting::parse(&p).unwrap();
        assert_eq!(g.connection_id, 5);
        assert_eq!(&g.scramble, b"123456789abcdefghijk");
        assert_eq!(g.auth_plugin, "mysql_native_password");
        assert!(g.server_version.contains("MariaDB"));
    }

    #[test]
    fn response_round_trips_and_ssl_request_is_recognised() {
        let resp = HandshakeResponse {
            capabilities: caps::REQUESTED_FROM_SERVERS,
            max_packet: 1 << 24,
            collation: 45,
            username: "app".into(),
            auth_response: vec![1, 2, 3],
            database: Some("shop".into()),
            auth_plugin: Some("mysql_native_password".into()),
        };
        let mut out = BytesMut::new();
        resp.encode(&mut out, 1);
        let parsed = HandshakeResponse::parse(&out[HEADER_LEN..]).unwrap();
        assert_eq!(parsed.username, "app");
        assert_eq!(parsed.auth_response, vec![1, 2, 3]);
        assert_eq!(parsed.database.as_deref(), Some("shop"));
        assert_eq!(parsed.auth_plugin.as_deref(), Some("mysql_native_password"));
        assert!(!is_ssl_request(&out[HEADER_LEN..]));

        let mut ssl = BytesMut::new();
        resp.encode_ssl_request(&mut ssl, 1);
        assert!(is_ssl_request(&ssl[HEADER_LEN..]));
        let mut fixed = (caps::REQUESTED_FROM_SERVERS | caps::SSL)
            .to_le_bytes()
            .to_vec();
        fixed.extend_from_slice(&(1u32 << 24).to_le_bytes());
        fixed.push(45);
        fixed.extend_from_slice(&[0; 23]);
        assert_eq!(&ssl[HEADER_LEN..], &fixed[..]);
        assert_eq!(ssl[3], 1);
    }

    #[test]
    fn truncated_responses_are_malformed() {
        let resp = HandshakeResponse {
            capabilities: caps::REQUESTED_FROM_SERVERS,
            max_packet: 0,
            collation: 45,
            username: "app".into(),
            auth_response: vec![9; 20],
            database: None,
            auth_plugin: None,
        };
        let mut out = BytesMut::new();
        resp.encode(&mut out, 1);
        let payload = &out[HEADER_LEN..];
        for cut in 0..FIXED_LEN + 5 {
            assert!(
                HandshakeResponse::parse(&payload[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(HandshakeResponse::parse(&[0, 0, 0, 0]).is_err());
    }
}
