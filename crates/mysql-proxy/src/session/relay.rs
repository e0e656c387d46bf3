//! Passing a server's response to the client as it arrives, packet by packet, while a
//! tracker follows it to its end. Packets go through untouched except where a client
//! must see something else: its own statement id in PREPARE_OK, and OK packets
//! without session-state data for clients that did not ask for it.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use pool_core::net::stream::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::io::{fill_packet, ReadError};
use crate::protocol::ok_err::{ErrPacket, OkPacket};
use crate::protocol::packet::{self, Header, HEADER_LEN};
use crate::protocol::response::{Broken, Expect, Progress, ResponseTracker};
use crate::protocol::statement::set_stmt_id;
use crate::server::ServerConn;

/// Packets at least this long are passed on in pieces as they arrive rather than
/// buffered whole; only row data is ever this large.
const STREAM_THRESHOLD: usize = 64 * 1024;
/// Flush to the client once this much is gathered.
const FLUSH_AT: usize = 64 * 1024;

pub struct RelayOptions {
    /// The client negotiated session tracking.
    pub session_track: bool,
    /// The client may send a local file (its flag and the route allow it).
    pub local_infile: bool,
    /// For COM_STMT_PREPARE: the statement id the client gets.
    pub prepare_id: Option<u32>,
    pub max_packet: usize,
    /// How long a write to the client may wait for it to read (as MySQL's
    /// net_write_timeout): a client that stops reading mid-result must not hold a
    /// server connection for ever.
    pub client_write_timeout: Duration,
    /// A response that is only a read-only refusal (1290, 1836) is not passed on: the
    /// caller sends the query to another member.
    pub withhold_read_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("server connection failed: {0}")]
    Server(#[from] std::io::Error),
    #[error(transparent)]
    Broken(#[from] Broken),
    #[error("client connection failed: {0}")]
    Client(std::io::Error),
    #[error("client failed while sending a local file: {0}")]
    ClientRead(ReadError),
}

/// Relays the response to the command just sent on `server`. Returns what the
/// tracker learnt and how many bytes the client got. `next_seq` follows the sequence
/// id a packet to the client would take next, for an error if the server fails midway.
pub async fn relay(
    server: &mut ServerConn,
    client: &mut Stream,
    client_buf: &mut BytesMut,
    out: &mut BytesMut,
    expect: Expect,
    opts: &RelayOptions,
    next_seq: &mut u8,
) -> Result<(ResponseTracker, u64), RelayError> {
    let mut tracker = ResponseTracker::new(expect);
    let mut sent: u64 = 0;
    // Set when the server asked for a local file the client may not send: sluice sent
    // it an empty one, swallows the rest and answers with this ERR's sequence id.
    let mut refused_infile: Option<u8> = None;
    let mut first = true;
    loop {
        while let Some(h) = Header::parse(&server.read_buf) {
            let total = HEADER_LEN + h.len;
            if server.read_buf.len() < total {
                if h.len >= STREAM_THRESHOLD
                    && server.read_buf.len() > HEADER_LEN
                    && refused_infile.is_none()
                {
                    tracker.feed(h, &server.read_buf[HEADER_LEN..])?;
                    *next_seq = h.seq.wrapping_add(1);
                    stream_packet(
                        server,
                        client,
                        out,
                        total,
                        &mut sent,
                        opts.client_write_timeout,
                    )
                    .await?;
                    first = false;
                    continue;
                }
                break;
            }
            let progress = tracker.feed(h, &server.read_buf[HEADER_LEN..total])?;
            *next_seq = h.seq.wrapping_add(1);
            if let Some(seq) = refused_infile {
                server.read_buf.advance(total);
                if progress == Progress::Done {
                    ErrPacket::new(
                        1148,
                        "42000",
                        "The used command is not allowed with this MySQL version: \
                         LOAD DATA LOCAL INFILE is not enabled for this client or pool",
                    )
                    .encode(out, seq);
                    flush(client, out, &mut sent, opts.client_write_timeout).await?;
                    return Ok((tracker, sent));
                }
                continue;
            }
            if progress == Progress::LocalInfile && !opts.local_infile {
                refused_infile = Some(h.seq);
                let mut empty = BytesMut::new();
                packet::write_packet(&mut empty, h.seq.wrapping_add(1), &[]);
                server.read_buf.advance(total);
                server.stream.write_all(&empty).await?;
                continue;
            }
            if first
                && opts.withhold_read_only
                && progress == Progress::Done
                && tracker
                    .error
                    .as_ref()
                    .is_some_and(ErrPacket::is_read_only_refusal)
            {
                server.read_buf.advance(total);
                return Ok((tracker, sent));
            }
            let payload = &server.read_buf[HEADER_LEN..total];
            if let (true, Some(id), Some(_)) = (first, opts.prepare_id, tracker.prepared) {
                let start = out.len();
                out.extend_from_slice(&server.read_buf[..total]);
                set_stmt_id(&mut out[start + HEADER_LEN..], id);
            } else if tracker.last_was_ok && !opts.session_track {
                match OkPacket::parse(payload, true) {
                    Some(ok) => ok.encode(out, h.seq, false),
                    None => out.extend_from_slice(&server.read_buf[..total]),
                }
            } else {
                out.extend_from_slice(&server.read_buf[..total]);
            }
            first = false;
            server.read_buf.advance(total);
            match progress {
                Progress::Done => {
                    flush(client, out, &mut sent, opts.client_write_timeout).await?;
                    return Ok((tracker, sent));
                }
                Progress::LocalInfile => {
                    flush(client, out, &mut sent, opts.client_write_timeout).await?;
                    send_local_file(server, client, client_buf, opts.max_packet).await?;
                }
                Progress::More => {
                    if out.len() >= FLUSH_AT {
                        flush(client, out, &mut sent, opts.client_write_timeout).await?;
                    }
                }
            }
        }
        // Everything whole has been handled: pass it on before waiting for more.
        flush(client, out, &mut sent, opts.client_write_timeout).await?;
        server.read_buf.reserve(16 * 1024);
        if server.stream.read_buf(&mut server.read_buf).await? == 0 {
            return Err(RelayError::Server(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection mid-response",
            )));
        }
    }
}

async fn flush(
    client: &mut Stream,
    out: &mut BytesMut,
    sent: &mut u64,
    limit: Duration,
) -> Result<(), RelayError> {
    if !out.is_empty() {
        // The timer is only armed when the write has to wait.
        match tokio::time::timeout(limit, client.write_all(out)).await {
            Ok(written) => written.map_err(RelayError::Client)?,
            Err(_) => {
                return Err(RelayError::Client(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the client read nothing for {limit:?} (client_write_timeout)"),
                )))
            }
        }
        *sent += out.len() as u64;
        out.clear();
    }
    Ok(())
}

/// Passes on a large packet of `total` bytes (header included) of which the start is
/// in the server's buffer, as its bytes arrive.
async fn stream_packet(
    server: &mut ServerConn,
    client: &mut Stream,
    out: &mut BytesMut,
    total: usize,
    sent: &mut u64,
    limit: Duration,
) -> Result<(), RelayError> {
    let mut remaining = total;
    loop {
        let n = remaining.min(server.read_buf.len());
        out.extend_from_slice(&server.read_buf[..n]);
        server.read_buf.advance(n);
        remaining -= n;
        flush(client, out, sent, limit).await?;
        if remaining == 0 {
            return Ok(());
        }
        server.read_buf.reserve(remaining.min(256 * 1024));
        if server.stream.read_buf(&mut server.read_buf).await? == 0 {
            return Err(RelayError::Server(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection mid-packet",
            )));
        }
    }
}

/// The client's file goes to the server packet by packet, up to the empty packet
/// that ends it.
async fn send_local_file(
    server: &mut ServerConn,
    client: &mut Stream,
    client_buf: &mut BytesMut,
    max_packet: usize,
) -> Result<(), RelayError> {
    loop {
        let h = fill_packet(client, client_buf, max_packet)
            .await
            .map_err(RelayError::ClientRead)?;
        let total = HEADER_LEN + h.len;
        server.stream.write_all(&client_buf[..total]).await?;
        client_buf.advance(total);
        if h.len == 0 {
            return Ok(());
        }
    }
}
