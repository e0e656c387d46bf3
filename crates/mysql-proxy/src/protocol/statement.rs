//! Server-side prepared statements: the PREPARE_OK packet, and statement ids inside
//! COM_STMT_* commands, which sluice maps between its clients and its servers.

use bytes::{BufMut, BytesMut};

use super::handshake::Malformed;
use super::lenenc::Reader;
use super::packet;

/// The first packet of a successful COM_STMT_PREPARE response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOk {
    pub stmt_id: u32,
    pub columns: u16,
    pub params: u16,
}

impl PrepareOk {
    pub fn parse(payload: &[u8]) -> Option<PrepareOk> {
        let mut r = Reader::new(payload);
        if r.u8()? != 0 {
            return None;
        }
        Some(PrepareOk {
            stmt_id: r.u32()?,
            columns: r.u16()?,
            params: r.u16()?,
        })
    }
}

/// The statement id in a COM_STMT_* command payload, or in a PREPARE_OK (both have it
/// at bytes 1..5).
pub fn stmt_id(payload: &[u8]) -> Option<u32> {
    Reader::new(payload.get(1..)?).u32()
}

/// Replaces the statement id at bytes 1..5.
pub fn set_stmt_id(payload: &mut [u8], id: u32) {
    if let Some(b) = payload.get_mut(1..5) {
        b.copy_from_slice(&id.to_le_bytes());
    }
}

/// Cursor flags of COM_STMT_EXECUTE: a cursor keeps state on its connection.
pub fn execute_opens_cursor(payload: &[u8]) -> bool {
    payload.get(5).is_some_and(|flags| flags & 0x0F != 0)
}

/// Writes a client's COM_STMT_EXECUTE for a server connection: with the server's
/// statement id, and always with the parameter types. Clients send the types only
/// when they (re)bind, which a different server connection never saw, so the types
/// of the client's last binding are kept in `types` and put back when left out.
pub fn write_execute(
    out: &mut BytesMut,
    payload: &[u8],
    server_id: u32,
    params: u16,
    types: &mut Option<Vec<u8>>,
) -> Result<(), Malformed> {
    const WHAT: &str = "COM_STMT_EXECUTE";
    // cmd(1) id(4) flags(1) iterations(4)
    let fixed = payload.get(..10).ok_or(Malformed(WHAT))?;
    let body = &payload[10..];
    let n = usize::from(params);
    if n == 0 {
        write_with_id(out, fixed, body, server_id);
        return Ok(());
    }
    let bitmap_len = n.div_ceil(8);
    let bitmap = body.get(..bitmap_len).ok_or(Malformed(WHAT))?;
    let bound = *body.get(bitmap_len).ok_or(Malformed(WHAT))?;
    let after_flag = &body[bitmap_len + 1..];
    if bound == 1 {
        let t = after_flag.get(..2 * n).ok_or(Malformed(WHAT))?;
        match types {
            Some(saved) if saved.as_slice() == t => {}
            _ => *types = Some(t.to_vec()),
        }
        write_with_id(out, fixed, body, server_id);
        return Ok(());
    }
    let Some(saved) = types.as_deref() else {
        // Nothing to put back: the server reports the client's mistake itself.
        write_with_id(out, fixed, body, server_id);
        return Ok(());
    };
    let mut full = Vec::with_capacity(payload.len() + saved.len());
    full.extend_from_slice(fixed);
    full.extend_from_slice(bitmap);
    full.push(1);
    full.extend_from_slice(saved);
    full.extend_from_slice(after_flag);
    set_stmt_id(&mut full, server_id);
    packet::write_packet(out, 0, &full);
    Ok(())
}

fn write_with_id(out: &mut BytesMut, fixed: &[u8], body: &[u8], server_id: u32) {
    if fixed.len() + body.len() < packet::MAX_PAYLOAD {
        let start = packet::begin(out, 0);
        out.put_u8(fixed[0]);
        out.put_u32_le(server_id);
        out.put_slice(&fixed[5..]);
        out.put_slice(body);
        packet::end(out, start);
    } else {
        let mut full = Vec::with_capacity(fixed.len() + body.len());
        full.extend_from_slice(fixed);
        full.extend_from_slice(body);
        set_stmt_id(&mut full, server_id);
        packet::write_packet(out, 0, &full);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packet::HEADER_LEN;

    fn execute(id: u32, bound: bool) -> Vec<u8> {
        let mut p = vec![0x17];
        p.extend_from_slice(&id.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&1u32.to_le_bytes());
        p.push(0); // null bitmap for 2 params
        p.push(u8::from(bound));
        if bound {
            p.extend_from_slice(&[8, 0, 8, 0]); // two LONGLONGs
        }
        p.extend_from_slice(&7i64.to_le_bytes());
        p.extend_from_slice(&9i64.to_le_bytes());
        p
    }

    #[test]
    fn types_are_saved_and_put_back_for_another_connection() {
        let mut types = None;
        let mut out = BytesMut::new();
        write_execute(&mut out, &execute(1, true), 40, 2, &mut types).unwrap();
        assert_eq!(types.as_deref(), Some(&[8, 0, 8, 0][..]));
        assert_eq!(stmt_id(&out[HEADER_LEN..]), Some(40));
        assert_eq!(&out[HEADER_LEN + 5..], &execute(1, true)[5..]);

        let mut out = BytesMut::new();
        write_execute(&mut out, &execute(1, false), 41, 2, &mut types).unwrap();
        let mut expect = execute(41, true);
        set_stmt_id(&mut expect, 41);
        assert_eq!(&out[HEADER_LEN..], &expect[..]);
    }

    #[test]
    fn statement_without_params_only_changes_the_id() {
        let mut p = vec![0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0];
        let mut out = BytesMut::new();
        write_execute(&mut out, &p, 5, 0, &mut None).unwrap();
        set_stmt_id(&mut p, 5);
        assert_eq!(&out[HEADER_LEN..], &p[..]);
        assert!(write_execute(&mut out, &p[..6], 5, 0, &mut None).is_err());
        assert!(write_execute(&mut BytesMut::new(), &p, 5, 3, &mut None).is_err());
    }

    #[test]
    fn prepare_ok_and_cursor_flag() {
        let p = [0, 7, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0];
        assert_eq!(
            PrepareOk::parse(&p),
            Some(PrepareOk {
                stmt_id: 7,
                columns: 2,
                params: 1
            })
        );
        assert!(!execute_opens_cursor(&execute(1, false)));
        let mut c = execute(1, false);
        c[5] = 1;
        assert!(execute_opens_cursor(&c));
    }
}
