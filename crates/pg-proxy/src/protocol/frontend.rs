//! Views over the frontend messages the relay rewrites (Parse, Bind, Describe, Close,
//! Query) and builders for the messages sluice sends to servers itself.

use bytes::{BufMut, BytesMut};
use thiserror::Error;

use super::backend::put_message;
use super::tags::frontend;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed {message} message: {reason}")]
pub struct MalformedMessage {
    pub message: &'static str,
    pub reason: &'static str,
}

fn split_cstr<'a>(
    buf: &'a [u8],
    message: &'static str,
) -> Result<(&'a [u8], &'a [u8]), MalformedMessage> {
    let nul = buf.iter().position(|&b| b == 0).ok_or(MalformedMessage {
        message,
        reason: "unterminated string",
    })?;
    Ok((&buf[..nul], &buf[nul + 1..]))
}

/// Parse: statement name, query text, then parameter type OIDs (kept raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseView<'a> {
    pub name: &'a [u8],
    pub query: &'a [u8],
    /// `int16 count` followed by `count` OIDs, exactly as sent.
    pub param_types: &'a [u8],
}

impl<'a> ParseView<'a> {
    pub fn decode(body: &'a [u8]) -> Result<Self, MalformedMessage> {
        let (name, rest) = split_cstr(body, "Parse")?;
        let (query, param_types) = split_cstr(rest, "Parse")?;
        if param_types.len() < 2 {
            return Err(MalformedMessage {
                message: "Parse",
                reason: "missing parameter count",
            });
        }
        let count = i16::from_be_bytes([param_types[0], param_types[1]]);
        if count < 0 || param_types.len() != 2 + 4 * count as usize {
            return Err(MalformedMessage {
                message: "Parse",
                reason: "parameter types do not match their count",
            });
        }
        Ok(Self {
            name,
            query,
            param_types,
        })
    }

    /// Writes a Parse with another statement name.
    pub fn encode_named(&self, out: &mut BytesMut, name: &[u8]) {
        write_parse(out, name, self.query, self.param_types);
    }
}

/// Writes a Parse message from its parts (`param_types` raw, with its count).
pub fn write_parse(out: &mut BytesMut, name: &[u8], query: &[u8], param_types: &[u8]) {
    put_message(out, frontend::PARSE, |b| {
        b.put_slice(name);
        b.put_u8(0);
        b.put_slice(query);
        b.put_u8(0);
        b.put_slice(param_types);
    });
}

/// Bind: portal, statement, then everything else (formats, values) kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindView<'a> {
    pub portal: &'a [u8],
    pub statement: &'a [u8],
    pub rest: &'a [u8],
}

impl<'a> BindView<'a> {
    pub fn decode(body: &'a [u8]) -> Result<Self, MalformedMessage> {
        let (portal, rest) = split_cstr(body, "Bind")?;
        let (statement, rest) = split_cstr(rest, "Bind")?;
        Ok(Self {
            portal,
            statement,
            rest,
        })
    }

    pub fn encode_named(&self, out: &mut BytesMut, statement: &[u8]) {
        put_message(out, frontend::BIND, |b| {
            b.put_slice(self.portal);
            b.put_u8(0);
            b.put_slice(statement);
            b.put_u8(0);
            b.put_slice(self.rest);
        });
    }
}

/// What a Describe or Close refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Statement,
    Portal,
}

/// Describe or Close: a target kind byte and a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetView<'a> {
    pub target: Target,
    pub name: &'a [u8],
}

impl<'a> TargetView<'a> {
    pub fn decode(body: &'a [u8], message: &'static str) -> Result<Self, MalformedMessage> {
        let (&kind, rest) = body.split_first().ok_or(MalformedMessage {
            message,
            reason: "empty body",
        })?;
        let target = match kind {
            b'S' => Target::Statement,
            b'P' => Target::Portal,
            _ => {
                return Err(MalformedMessage {
                    message,
                    reason: "target must be 'S' or 'P'",
                })
            }
        };
        let (name, tail) = split_cstr(rest, message)?;
        if !tail.is_empty() {
            return Err(MalformedMessage {
                message,
                reason: "trailing bytes",
            });
        }
        Ok(Self { target, name })
    }
}

pub fn write_target(out: &mut BytesMut, tag: u8, target: Target, name: &[u8]) {
    put_message(out, tag, |b| {
        b.put_u8(match target {
            Target::Statement => b'S',
            Target::Portal => b'P',
        });
        b.put_slice(name);
        b.put_u8(0);
    });
}

/// Query text without its terminator.
pub fn query_text(body: &[u8]) -> Result<&[u8], MalformedMessage> {
    let (text, tail) = split_cstr(body, "Query")?;
    if !tail.is_empty() {
        return Err(MalformedMessage {
            message: "Query",
            reason: "trailing bytes",
        });
    }
    Ok(text)
}

/// The portal an Execute runs.
pub fn execute_portal(body: &[u8]) -> Result<&[u8], MalformedMessage> {
    let (portal, max_rows) = split_cstr(body, "Execute")?;
    if max_rows.len() != 4 {
        return Err(MalformedMessage {
            message: "Execute",
            reason: "row limit is not 4 bytes",
        });
    }
    Ok(portal)
}

pub fn write_query(out: &mut BytesMut, sql: &str) {
    put_message(out, frontend::QUERY, |b| {
        b.put_slice(sql.as_bytes());
        b.put_u8(0);
    });
}

pub fn write_flush(out: &mut BytesMut) {
    put_message(out, frontend::FLUSH, |_| {});
}

pub fn write_sync(out: &mut BytesMut) {
    put_message(out, frontend::SYNC, |_| {});
}

pub fn write_terminate(out: &mut BytesMut) {
    put_message(out, frontend::TERMINATE, |_| {});
}

pub fn write_password(out: &mut BytesMut, password: &[u8]) {
    put_message(out, frontend::PASSWORD, |b| {
        b.put_slice(password);
        b.put_u8(0);
    });
}

pub fn write_sasl_initial(out: &mut BytesMut, mechanism: &str, data: &[u8]) {
    put_message(out, frontend::PASSWORD, |b| {
        b.put_slice(mechanism.as_bytes());
        b.put_u8(0);
        b.put_i32(data.len() as i32);
        b.put_slice(data);
    });
}

pub fn write_sasl_response(out: &mut BytesMut, data: &[u8]) {
    put_message(out, frontend::PASSWORD, |b| b.put_slice(data));
}

/// SASLInitialResponse as received by sluice: mechanism and client-first data.
pub fn decode_sasl_initial(body: &[u8]) -> Result<(&[u8], &[u8]), MalformedMessage> {
    let (mechanism, rest) = split_cstr(body, "SASLInitialResponse")?;
    if rest.len() < 4 {
        return Err(MalformedMessage {
            message: "SASLInitialResponse",
            reason: "missing data length",
        });
    }
    let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let data = &rest[4..];
    if len < 0 || len as usize != data.len() {
        return Err(MalformedMessage {
            message: "SASLInitialResponse",
            reason: "data length does not match",
        });
    }
    Ok((mechanism, data))
}

/// PasswordMessage body: a NUL-terminated string.
pub fn decode_password(body: &[u8]) -> Result<&[u8], MalformedMessage> {
    let (pw, _) = split_cstr(body, "PasswordMessage")?;
    Ok(pw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: &BytesMut) -> &[u8] {
        &frame[5..]
    }

    #[test]
    fn parse_round_trip_with_rename() {
        let mut out = BytesMut::new();
        write_parse(&mut out, b"s1", b"select $1", &[0, 1, 0, 0, 0, 23]);
        let v = ParseView::decode(body(&out)).unwrap();
        assert_eq!(v.name, b"s1");
        assert_eq!(v.query, b"select $1");
        let mut renamed = BytesMut::new();
        v.encode_named(&mut renamed, b"sluice_9");
        let v2 = ParseView::decode(body(&renamed)).unwrap();
        assert_eq!(v2.name, b"sluice_9");
        assert_eq!(v2.param_types, v.param_types);
    }

    #[test]
    fn parse_rejects_bad_type_count() {
        assert!(ParseView::decode(b"s\0q\0\0\x02\0\0\0\x17").is_err());
        assert!(ParseView::decode(b"s\0q\0\xff\xff").is_err());
        assert!(ParseView::decode(b"s\0q").is_err());
    }

    #[test]
    fn bind_rename_keeps_values() {
        let raw = b"p1\0s1\0\0\0\0\x01\0\0\0\x0212\0\0";
        let v = BindView::decode(raw).unwrap();
        assert_eq!(v.statement, b"s1");
        let mut out = BytesMut::new();
        v.encode_named(&mut out, b"shared");
        let v2 = BindView::decode(body(&out)).unwrap();
        assert_eq!(v2.portal, b"p1");
        assert_eq!(v2.statement, b"shared");
        assert_eq!(v2.rest, v.rest);
    }

    #[test]
    fn describe_and_close_targets() {
        let v = TargetView::decode(b"Sname\0", "Describe").unwrap();
        assert_eq!(v.target, Target::Statement);
        assert_eq!(v.name, b"name");
        assert!(TargetView::decode(b"Xname\0", "Close").is_err());
        assert!(TargetView::decode(b"", "Close").is_err());
    }

    #[test]
    fn sasl_initial_decodes() {
        let mut out = BytesMut::new();
        write_sasl_initial(&mut out, "SCRAM-SHA-256", b"n,,n=,r=abc");
        let (m, d) = decode_sasl_initial(body(&out)).unwrap();
        assert_eq!(m, b"SCRAM-SHA-256");
        assert_eq!(d, b"n,,n=,r=abc");
        assert!(decode_sasl_initial(b"SCRAM\0\0\0\0\x09abc").is_err());
    }
}
