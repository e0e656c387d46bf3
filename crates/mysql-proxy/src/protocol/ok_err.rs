//! OK, EOF and ERR packets: how every command's response ends.

use bytes::{BufMut, BytesMut};

use super::capabilities::status;
use super::lenenc::{put_lenenc_bytes, put_lenenc_int, Reader};
use super::packet;

pub const OK: u8 = 0x00;
pub const EOF: u8 = 0xFE;
pub const ERR: u8 = 0xFF;
pub const LOCAL_INFILE: u8 = 0xFB;

/// Whether a packet is an EOF packet (as opposed to a row that starts with 0xFE,
/// which is only possible for rows of 2^24 bytes or more).
pub fn is_eof(payload: &[u8], len: usize) -> bool {
    payload.first() == Some(&EOF) && len < 9
}

/// The fields of an OK packet that sluice acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OkPacket<'a> {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: &'a [u8],
    /// Session-state changes, when the status says there are some.
    pub session_state: Option<&'a [u8]>,
}

impl<'a> OkPacket<'a> {
    /// Parses an OK packet (marker 0x00 or 0xFE) of a connection that negotiated
    /// session tracking when `session_track` is set.
    pub fn parse(payload: &'a [u8], session_track: bool) -> Option<OkPacket<'a>> {
        let mut r = Reader::new(payload);
        let marker = r.u8()?;
        if marker != OK && marker != EOF {
            return None;
        }
        let affected_rows = r.lenenc_int()?;
        let last_insert_id = r.lenenc_int()?;
        let status = r.u16()?;
        let warnings = r.u16()?;
        let mut ok = OkPacket {
            affected_rows,
            last_insert_id,
            status,
            warnings,
            info: &[],
            session_state: None,
        };
        if session_track {
            if r.remaining() > 0 {
                ok.info = r.lenenc_bytes()?;
            }
            if status & status::SESSION_STATE_CHANGED != 0 && r.remaining() > 0 {
                ok.session_state = Some(r.lenenc_bytes()?);
            }
        } else if r.remaining() > 0 {
            // Servers write the message length-encoded here too (whatever older
            // documents say of string<EOF>); take the rest when it is not.
            let rest = r.rest();
            let mut lenenc = Reader::new(rest);
            ok.info = match lenenc.lenenc_bytes() {
                Some(info) if lenenc.remaining() == 0 => info,
                _ => rest,
            };
        }
        Some(ok)
    }

    /// Writes the packet for a client; `session_track` says whether that client
    /// negotiated session tracking (without it, the state changes are left out).
    pub fn encode(&self, out: &mut BytesMut, seq: u8, session_track: bool) {
        let start = packet::begin(out, seq);
        out.put_u8(OK);
        put_lenenc_int(out, self.affected_rows);
        put_lenenc_int(out, self.last_insert_id);
        let state = self.session_state.filter(|_| session_track);
        let mut st = self.status;
        if state.is_none() {
            st &= !status::SESSION_STATE_CHANGED;
        }
        out.put_u16_le(st);
        out.put_u16_le(self.warnings);
        if session_track {
            if !self.info.is_empty() || state.is_some() {
                put_lenenc_bytes(out, self.info);
            }
            if let Some(s) = state {
                put_lenenc_bytes(out, s);
            }
        } else if !self.info.is_empty() {
            // Length-encoded, as servers send it: clients parse it so.
            put_lenenc_bytes(out, self.info);
        }
        packet::end(out, start);
    }
}

/// The status flags of an EOF packet (warnings come first there, unlike in OK).
pub fn eof_status(payload: &[u8]) -> Option<u16> {
    let mut r = Reader::new(payload);
    if r.u8()? != EOF {
        return None;
    }
    r.u16()?;
    r.u16()
}

pub fn encode_eof(out: &mut BytesMut, seq: u8, status: u16) {
    let start = packet::begin(out, seq);
    out.put_u8(EOF);
    out.put_u16_le(0);
    out.put_u16_le(status);
    packet::end(out, start);
}

/// An error as a client sees it: code, SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    pub sql_state: [u8; 5],
    pub message: String,
}

impl ErrPacket {
    pub fn new(code: u16, sql_state: &str, message: impl Into<String>) -> Self {
        let mut s = [b'H', b'Y', b'0', b'0', b'0'];
        if sql_state.len() == 5 {
            s.copy_from_slice(sql_state.as_bytes());
        }
        ErrPacket {
            code,
            sql_state: s,
            message: message.into(),
        }
    }

    /// What MySQL tells its clients when it is stopping (ER_SERVER_SHUTDOWN).
    pub fn server_shutdown() -> Self {
        Self::new(1053, "08S01", "Server shutdown in progress")
    }

    pub fn parse(payload: &[u8]) -> Option<ErrPacket> {
        let mut r = Reader::new(payload);
        if r.u8()? != ERR {
            return None;
        }
        let code = r.u16()?;
        let mut sql_state = *b"HY000";
        if r.rest().first() == Some(&b'#') {
            r.u8();
            sql_state.copy_from_slice(r.take(5)?);
        }
        Some(ErrPacket {
            code,
            sql_state,
            message: String::from_utf8_lossy(r.rest()).into_owned(),
        })
    }

    pub fn encode(&self, out: &mut BytesMut, seq: u8) {
        let start = packet::begin(out, seq);
        out.put_u8(ERR);
        out.put_u16_le(self.code);
        out.put_u8(b'#');
        out.put_slice(&self.sql_state);
        // Keep the packet well under the maximum whatever the message.
        let msg = self.message.as_bytes();
        out.put_slice(&msg[..msg.len().min(4096)]);
        packet::end(out, start);
    }

    /// The form a server sends in place of its greeting (e.g. "Too many
    /// connections"): no SQLSTATE, since the client has not yet said it speaks
    /// protocol 4.1 and would print the marker as part of the message.
    pub fn encode_before_greeting(&self, out: &mut BytesMut) {
        let start = packet::begin(out, 0);
        out.put_u8(ERR);
        out.put_u16_le(self.code);
        let msg = self.message.as_bytes();
        out.put_slice(&msg[..msg.len().min(4096)]);
        packet::end(out, start);
    }

    /// ER_OPTION_PREVENTS_STATEMENT (`--read-only`, 1290) or ER_READ_ONLY_MODE
    /// (1836): the member refused the statement before running it.
    pub fn is_read_only_refusal(&self) -> bool {
        self.code == 1290 || self.code == 1836
    }

    pub fn sql_state(&self) -> &str {
        std::str::from_utf8(&self.sql_state).unwrap_or("HY000")
    }
}

impl std::fmt::Display for ErrPacket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ERROR {} ({}): {}",
            self.code,
            self.sql_state(),
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packet::HEADER_LEN;

    #[test]
    fn ok_with_session_state_round_trips() {
        let ok = OkPacket {
            affected_rows: 3,
            last_insert_id: 300,
            status: status::AUTOCOMMIT | status::SESSION_STATE_CHANGED,
            warnings: 1,
            info: b"",
            session_state: Some(b"\x01\x05\x04shop"),
        };
        let mut out = BytesMut::new();
        ok.encode(&mut out, 2, true);
        assert_eq!(OkPacket::parse(&out[HEADER_LEN..], true), Some(ok));

        // A client without session tracking sees neither the flag nor the changes.
        let mut plain = BytesMut::new();
        ok.encode(&mut plain, 2, false);
        let seen = OkPacket::parse(&plain[HEADER_LEN..], false).unwrap();
        assert_eq!(seen.status, status::AUTOCOMMIT);
        assert_eq!(seen.info, b"");
        assert_eq!(seen.last_insert_id, 300);
    }

    #[test]
    fn the_message_is_length_encoded_with_or_without_session_tracking() {
        let ok = OkPacket {
            affected_rows: 2,
            info: b"Rows matched: 2  Changed: 0  Warnings: 0",
            status: status::AUTOCOMMIT,
            ..OkPacket::default()
        };
        for track in [false, true] {
            let mut out = BytesMut::new();
            ok.encode(&mut out, 1, track);
            let body = &out[HEADER_LEN..];
            // 0x00, affected rows 2, insert id 0, status, warnings, then the length.
            assert_eq!(&body[..8], &[0, 2, 0, 2, 0, 0, 0, 40], "track={track}");
            assert_eq!(OkPacket::parse(body, track), Some(ok));
        }
        // What MariaDB sends a client without session tracking.
        let mut from_server = vec![0, 2, 0, 2, 0, 0, 0, 40];
        from_server.extend_from_slice(ok.info);
        assert_eq!(OkPacket::parse(&from_server, false), Some(ok));
    }

    #[test]
    fn minimal_ok_parses_with_session_tracking() {
        let p = [0, 0, 0, 2, 0, 0, 0];
        let ok = OkPacket::parse(&p, true).unwrap();
        assert_eq!(ok.status, status::AUTOCOMMIT);
        assert_eq!(ok.session_state, None);
        assert_eq!(OkPacket::parse(&p[..5], true), None);
    }

    #[test]
    fn eof_and_err() {
        let mut out = BytesMut::new();
        encode_eof(&mut out, 5, status::IN_TRANS);
        assert!(is_eof(&out[HEADER_LEN..], out.len() - HEADER_LEN));
        assert_eq!(eof_status(&out[HEADER_LEN..]), Some(status::IN_TRANS));

        let e = ErrPacket::new(1045, "28000", "Access denied for user 'x'");
        let mut out = BytesMut::new();
        e.encode(&mut out, 2);
        assert_eq!(ErrPacket::parse(&out[HEADER_LEN..]), Some(e.clone()));
        assert_eq!(
            e.to_string(),
            "ERROR 1045 (28000): Access denied for user 'x'"
        );
        // Pre-4.1 form without SQLSTATE.
        let old = ErrPacket::parse(b"\xff\x10\x04Too many").unwrap();
        assert_eq!(old.code, 1040);
        assert_eq!(old.sql_state(), "HY000");
    }
}
