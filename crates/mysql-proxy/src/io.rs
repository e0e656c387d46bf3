//! Reading packets off a stream into a buffer. Framing only: what the packets mean is
//! the protocol module's business.

use std::io;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::protocol::packet::{Header, HEADER_LEN};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("packet of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads until `buf` holds at least `n` bytes. A clean end of stream before any byte
/// of a packet is `Closed`; in the middle of one it is an I/O error.
async fn fill<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    n: usize,
) -> Result<(), ReadError> {
    while buf.len() < n {
        buf.reserve((n - buf.len()).max(4096));
        if s.read_buf(buf).await? == 0 {
            return Err(if buf.is_empty() {
                ReadError::Closed
            } else {
                io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-packet").into()
            });
        }
    }
    Ok(())
}

/// Waits until `buf` starts with a whole packet and returns its header; the packet
/// stays in `buf`.
pub async fn fill_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<Header, ReadError> {
    fill(s, buf, HEADER_LEN).await?;
    let header = Header::parse(buf).expect("four bytes are there");
    if header.len > max_len {
        return Err(ReadError::TooLarge(header.len));
    }
    fill(s, buf, HEADER_LEN + header.len).await?;
    Ok(header)
}

/// Reads one logical packet (joining a payload split over several packets) and takes
/// it out of `buf`. Returns the sequence id of its last packet and the payload.
pub async fn read_payload<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<(u8, BytesMut), ReadError> {
    let (_, last, payload) = read_split_payload(s, buf, max_len).await?;
    Ok((last, payload))
}

/// As [`read_payload`], with the sequence ids of the first and the last packet: a
/// command of 16 MiB or more starts at 0 and ends further on.
pub async fn read_split_payload<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<(u8, u8, BytesMut), ReadError> {
    let mut payload = BytesMut::new();
    let mut first_seq = None;
    loop {
        let header = fill_packet(s, buf, max_len).await?;
        if payload.len() + header.len > max_len {
            return Err(ReadError::TooLarge(payload.len() + header.len));
        }
        buf.advance(HEADER_LEN);
        first_seq.get_or_insert(header.seq);
        let part = buf.split_to(header.len);
        if payload.is_empty() {
            payload = part;
        } else {
            payload.extend_from_slice(&part);
        }
        if !header.is_continued() {
            return Ok((first_seq.unwrap_or(header.seq), header.seq, payload));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packet::{write_packet, MAX_PAYLOAD};

    #[tokio::test]
    async fn joins_split_payloads_and_keeps_what_follows() {
        let mut wire = BytesMut::new();
        let big = vec![7u8; MAX_PAYLOAD + 10];
        let next = write_packet(&mut wire, 0, &big);
        write_packet(&mut wire, next, b"after");
        let mut reader = &wire[..];
        let mut buf = BytesMut::new();
        let (seq, payload) = read_payload(&mut reader, &mut buf, 64 << 20).await.unwrap();
        assert_eq!(seq, 1);
        assert_eq!(payload.len(), big.len());
        let (seq, payload) = read_payload(&mut reader, &mut buf, 64 << 20).await.unwrap();
        assert_eq!((seq, &payload[..]), (2, &b"after"[..]));
        assert!(matches!(
            read_payload(&mut reader, &mut buf, 100).await,
            Err(ReadError::Closed)
        ));
    }

    #[tokio::test]
    async fn oversized_and_truncated_packets_fail() {
        let wire = [0xFF, 0xFF, 0xFF, 0];
        let mut buf = BytesMut::new();
        let r = read_payload(&mut &wire[..], &mut buf, 1 << 20).await;
        assert!(matches!(r, Err(ReadError::TooLarge(_))), "{r:?}");
        let mut buf = BytesMut::new();
        let r = read_payload(&mut &[5u8, 0, 0, 0, b'a'][..], &mut buf, 1 << 20).await;
        assert!(matches!(r, Err(ReadError::Io(_))), "{r:?}");
    }
}
