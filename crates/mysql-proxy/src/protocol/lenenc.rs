//! Length-encoded integers and strings, and a small cursor over a packet payload.

use bytes::BufMut;

/// Reads values off the front of a payload; every read fails cleanly on short input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    pub fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u24(&mut self) -> Option<u32> {
        let b = self.take(3)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    /// A NUL-terminated string (the NUL is consumed, not returned).
    pub fn nul_str(&mut self) -> Option<&'a [u8]> {
        let end = memchr::memchr(0, self.buf)?;
        let s = &self.buf[..end];
        self.buf = &self.buf[end + 1..];
        Some(s)
    }

    /// A length-encoded integer; `None` for the NULL marker 0xFB or short input.
    pub fn lenenc_int(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xFA => Some(u64::from(n)),
            0xFC => self.u16().map(u64::from),
            0xFD => self.u24().map(u64::from),
            0xFE => self.u64(),
            _ => None,
        }
    }

    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc_int()?).ok()?;
        self.take(n)
    }
}

pub fn put_lenenc_int(out: &mut impl BufMut, n: u64) {
    match n {
        0..=0xFA => out.put_u8(n as u8),
        0xFB..=0xFFFF => {
            out.put_u8(0xFC);
            out.put_u16_le(n as u16);
        }
        0x1_0000..=0xFF_FFFF => {
            out.put_u8(0xFD);
            out.put_uint_le(n, 3);
        }
        _ => {
            out.put_u8(0xFE);
            out.put_u64_le(n);
        }
    }
}

pub fn put_lenenc_bytes(out: &mut impl BufMut, b: &[u8]) {
    put_lenenc_int(out, b.len() as u64);
    out.put_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_ints_round_trip_at_every_width() {
        for n in [
            0u64,
            1,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, n);
            let mut r = Reader::new(&out);
            assert_eq!(r.lenenc_int(), Some(n), "{n}");
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn short_input_is_none_not_a_panic() {
        assert_eq!(Reader::new(&[0xFC, 1]).lenenc_int(), None);
        assert_eq!(Reader::new(&[0xFB]).lenenc_int(), None);
        assert_eq!(Reader::new(&[5, b'a']).lenenc_bytes(), None);
        assert_eq!(Reader::new(b"abc").nul_str(), None);
        let mut r = Reader::new(b"ab\0c");
        assert_eq!(r.nul_str(), Some(&b"ab"[..]));
        assert_eq!(r.rest(), b"c");
    }
}
