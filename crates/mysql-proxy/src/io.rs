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
/// command of 16 MiB or more starts at 0 and ends further on. The packets stay in `buf`
/// until the last one is in, so a read dropped midway (the session attending to its
/// server connection) loses nothing.
pub async fn read_split_payload<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<(u8, u8, BytesMut), ReadError> {
    // Where the next packet starts in `buf`, and the payload bytes before it.
    let mut end = 0;
    let mut total = 0;
    loop {
        fill(s, buf, end + HEADER_LEN).await?;
        let header = Header::parse(&buf[end..]).expect("four bytes are there");
        total += header.len;
        if total > max_len {
            return Err(ReadError::TooLarge(total));
        }
        fill(s, buf, end + HEADER_LEN + header.len).await?;
        end += HEADER_LEN + header.len;
        if !header.is_continued() {
            break;
        }
    }
    let first = Header::parse(buf).expect("read");
    if !first.is_continued() {
        buf.advance(HEADER_LEN);
        return Ok((first.seq, first.seq, buf.split_to(first.len)));
    }
    // Joined in place: each packet's payload moves over the headers before it.
    let (mut from, mut to, mut last_seq) = (0, 0, first.seq);
    while from < end {
        let h = Header::parse(&buf[from..]).expect("read");
        buf.copy_within(from + HEADER_LEN..from + HEADER_LEN + h.len, to);
        from += HEADER_LEN + h.len;
        to += h.len;
        last_seq = h.seq;
    }
    let mut payload = buf.split_to(end);
    payload.truncate(to);
    Ok((first.seq, last_seq, payload))
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
    async fn a_read_dropped_midway_loses_nothing() {
        let mut wire = BytesMut::new();
        let big: Vec<u8> = (0..MAX_PAYLOAD + 10).map(|i| i as u8).collect();
        let next = write_packet(&mut wire, 0, &big);
        write_packet(&mut wire, next, b"after");
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        let mut buf = BytesMut::new();
        // The first packet whole, a pause, then the rest.
        let feed = async {
            let (first, rest) = wire.split_at(HEADER_LEN + MAX_PAYLOAD);
            for part in first.chunks(1 << 20) {
                tokio::io::AsyncWriteExt::write_all(&mut client, part)
                    .await
                    .unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            tokio::io::AsyncWriteExt::write_all(&mut client, rest)
                .await
                .unwrap();
        };
        // Reads dropped again and again while the packets arrive.
        let read = async {
            loop {
                let r = tokio::time::timeout(
                    std::time::Duration::from_micros(50),
                    read_split_payload(&mut server, &mut buf, 64 << 20),
                )
                .await;
                if let Ok(r) = r {
                    return r.unwrap();
                }
            }
        };
        let ((), (first, last, payload)) = tokio::join!(feed, read);
        assert_eq!((first, last), (0, 1));
        assert!(payload[..] == big[..]);
        let (seq, payload) = read_payload(&mut server, &mut buf, 100).await.unwrap();
        assert_eq!((seq, &payload[..]), (2, &b"after"[..]));
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
