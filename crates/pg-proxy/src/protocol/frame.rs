//! Framing of regular (tagged) messages: one type byte, a 4-byte big-endian length that
//! counts itself, then the body. Every header is validated before any body is looked at.

use thiserror::Error;

/// Size of a tagged message header: type byte plus length.
pub const HEADER_LEN: usize = 5;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("invalid message length {len} for message type {tag:?}")]
    BadLength { tag: char, len: u32 },
    #[error("message of type {tag:?} is {len} bytes, over the limit of {limit} bytes")]
    TooLarge { tag: char, len: usize, limit: usize },
}

/// A validated header of a tagged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub tag: u8,
    /// Body length, excluding the type byte and the length field.
    pub body_len: usize,
}

impl FrameHeader {
    /// Whole frame length on the wire.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.body_len
    }
}

/// Reads and validates the header at the start of `buf`. Returns `Ok(None)` when fewer
/// than five bytes are buffered. `limit` bounds the body of messages that are buffered whole.
pub fn parse_header(buf: &[u8], limit: usize) -> Result<Option<FrameHeader>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let tag = buf[0];
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 || len > i32::MAX as u32 {
        return Err(FrameError::BadLength {
            tag: tag as char,
            len,
        });
    }
    let body_len = len as usize - 4;
    if body_len > limit {
        return Err(FrameError::TooLarge {
            tag: tag as char,
            len: body_len,
            limit,
        });
    }
    Ok(Some(FrameHeader { tag, body_len }))
}

/// Splits a complete frame off `buf` if one is fully buffered: `(header, frame bytes)`.
pub fn complete_frame(buf: &[u8], limit: usize) -> Result<Option<FrameHeader>, FrameError> {
    match parse_header(buf, limit)? {
        Some(h) if buf.len() >= h.frame_len() => Ok(Some(h)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_buffer_needs_more() {
        assert_eq!(parse_header(b"Q\0\0", 100), Ok(None));
    }

    #[test]
    fn rejects_length_under_four() {
        let err = parse_header(b"Q\0\0\0\x03", 100).unwrap_err();
        assert!(matches!(err, FrameError::BadLength { len: 3, .. }));
    }

    #[test]
    fn rejects_two_gib_length() {
        let err = parse_header(b"Q\x80\0\0\0", usize::MAX).unwrap_err();
        assert!(matches!(err, FrameError::BadLength { .. }));
        let err = parse_header(b"Q\x7f\xff\xff\xff", 1 << 20).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
    }

    #[test]
    fn complete_only_when_body_buffered() {
        let msg = b"Q\0\0\0\x09abcd\0";
        assert_eq!(complete_frame(&msg[..8], 100), Ok(None));
        let h = complete_frame(msg, 100).unwrap().unwrap();
        assert_eq!(h.tag, b'Q');
        assert_eq!(h.body_len, 5);
        assert_eq!(h.frame_len(), 10);
    }
}
