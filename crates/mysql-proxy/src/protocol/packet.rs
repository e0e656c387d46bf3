//! Packet framing: a 3-byte little-endian payload length and a sequence id, then the
//! payload. A payload of 2^24-1 bytes or more is split; a packet of exactly the
//! maximum length means "continued in the next packet".

use bytes::{BufMut, BytesMut};

pub const HEADER_LEN: usize = 4;
/// The largest payload of one packet; a packet this long is continued.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;

/// One packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: usize,
    pub seq: u8,
}

impl Header {
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let h = buf.get(..HEADER_LEN)?;
        Some(Header {
            len: usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16,
            seq: h[3],
        })
    }

    /// Whether the logical payload continues in the next packet.
    pub fn is_continued(self) -> bool {
        self.len == MAX_PAYLOAD
    }
}

/// Appends `payload` as one logical packet starting at `seq`, split as the protocol
/// requires. Returns the sequence id that follows.
pub fn write_packet(out: &mut BytesMut, mut seq: u8, payload: &[u8]) -> u8 {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_PAYLOAD);
        out.reserve(HEADER_LEN + n);
        out.put_uint_le(n as u64, 3);
        out.put_u8(seq);
        out.put_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_PAYLOAD {
            return seq;
        }
    }
}

/// Starts a packet whose payload is written in place; finish it with [`end`].
pub fn begin(out: &mut BytesMut, seq: u8) -> usize {
    let start = out.len();
    out.put_slice(&[0, 0, 0, seq]);
    start
}

/// Fills in the length of a packet started with [`begin`]. The payload must be
/// shorter than [`MAX_PAYLOAD`] (sluice's own packets always are).
pub fn end(out: &mut BytesMut, start: usize) {
    let len = out.len() - start - HEADER_LEN;
    debug_assert!(len < MAX_PAYLOAD);
    out[start..start + 3].copy_from_slice(&(len as u32).to_le_bytes()[..3]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_packet_has_its_length_and_sequence() {
        let mut out = BytesMut::new();
        let next = write_packet(&mut out, 7, b"\x03select 1");
        assert_eq!(next, 8);
        assert_eq!(&out[..4], &[9, 0, 0, 7]);
        assert_eq!(Header::parse(&out), Some(Header { len: 9, seq: 7 }));
    }

    #[test]
    fn payload_of_exactly_the_maximum_is_followed_by_an_empty_packet() {
        let payload = vec![b'x'; MAX_PAYLOAD];
        let mut out = BytesMut::new();
        let next = write_packet(&mut out, 0, &payload);
        assert_eq!(next, 2);
        assert_eq!(out.len(), 2 * HEADER_LEN + MAX_PAYLOAD);
        let first = Header::parse(&out).unwrap();
        assert!(first.is_continued());
        let second = Header::parse(&out[HEADER_LEN + MAX_PAYLOAD..]).unwrap();
        assert_eq!(second, Header { len: 0, seq: 1 });
    }

    #[test]
    fn begin_and_end_frame_in_place() {
        let mut out = BytesMut::new();
        let start = begin(&mut out, 3);
        out.put_slice(b"hello");
        end(&mut out, start);
        assert_eq!(&out[..], b"\x05\x00\x00\x03hello");
        assert_eq!(Header::parse(&out[..3]), None);
    }
}
