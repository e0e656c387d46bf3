//! The connection phase with an app: sluice's greeting, TLS on request, and checking
//! the client's password with the plugin it chose (switching plugin when needed).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use pool_core::hba::MysqlAuthMethod;
use pool_core::net::stream::Stream;
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::auth::plugin_exchange::{Action, Outcome, PluginExchange};
use crate::auth::{caching_sha2, CACHING_SHA2};
use crate::frontend::{AuthConfig, Frontend};
use crate::io::{read_payload, ReadError};
use crate::protocol::capabilities::{self as caps, status};
use crate::protocol::handshake::{is_ssl_request, Greeting, HandshakeResponse, SCRAMBLE_LEN};
use crate::protocol::ok_err::{ErrPacket, OkPacket};
use crate::protocol::{collation, packet};

/// Handshake packets are small; anything bigger is not a handshake.
const HANDSHAKE_LIMIT: usize = 64 * 1024;

/// A client that proved who it is.
pub struct Authenticated {
    pub stream: Stream,
    pub read_buf: BytesMut,
    pub response: HandshakeResponse,
    /// Capabilities both sides have.
    pub capabilities: u32,
    /// Sequence id of sluice's next packet (the final OK).
    pub seq: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client was told why (an ERR packet) and the connection is done.
    #[error("{0}")]
    Refused(ErrPacket),
    #[error("client went away during the handshake: {0}")]
    Gone(#[from] ReadError),
    #[error("I/O error during the handshake: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS handshake with the client failed: {0}")]
    Tls(std::io::Error),
}

/// 20 printable characters: clients treat the scramble as a NUL-terminated string.
fn new_scramble() -> [u8; SCRAMBLE_LEN] {
    let mut rng = rand::thread_rng();
    let mut s = [0u8; SCRAMBLE_LEN];
    for b in &mut s {
        *b = rng.gen_range(33..=126);
    }
    s
}

pub async fn handshake(
    fe: &Arc<Frontend>,
    tcp: TcpStream,
    peer: SocketAddr,
    connection_id: u32,
) -> Result<Authenticated, HandshakeError> {
    let tls = fe.tls();
    let scramble = new_scramble();
    let mut offered = caps::OFFERED_TO_CLIENTS | caps::LOCAL_FILES;
    if tls.is_some() {
        offered |= caps::SSL;
    }
    let greeting = Greeting {
        server_version: fe.server_version(),
        connection_id,
        scramble,
        capabilities: offered,
        collation: collation::DEFAULT,
        status: status::AUTOCOMMIT | fe.server_flags(),
        auth_plugin: CACHING_SHA2.to_owned(),
    };
    let mut stream = Stream::Plain(tcp);
    let mut out = BytesMut::with_capacity(256);
    greeting.encode(&mut out);
    stream.write_all(&out).await?;

    let mut buf = BytesMut::with_capacity(1024);
    let (mut stream, mut seq, response) = receive_response(stream, &mut buf, tls).await?;
    let capabilities = response.capabilities & offered;
    let auth = fe.auth();
    let user = &response.username;
    let database = response.database.as_deref().unwrap_or_default();
    let method = auth
        .hba
        .method_for(peer.ip(), database, user, stream.is_tls());
    let ok = match method {
        MysqlAuthMethod::Trust => true,
        MysqlAuthMethod::Reject => false,
        MysqlAuthMethod::Password => {
            exchange(
                &mut stream,
                &mut buf,
                &mut seq,
                fe,
                &auth,
                &scramble,
                &response,
            )
            .await?
        }
    };
    if !ok {
        tracing::info!(user = %user, %peer, method = %method, "MySQL client authentication failed");
        let with_password = if response.auth_response.is_empty() {
            "NO"
        } else {
            "YES"
        };
        let denied = ErrPacket::new(
            1045,
            "28000",
            format!(
                "Access denied for user '{user}'@'{}' (using password: {with_password})",
                peer.ip(),
            ),
        );
        return Err(refuse(&mut stream, seq, denied).await);
    }
    Ok(Authenticated {
        stream,
        read_buf: buf,
        response,
        capabilities,
        seq: seq.wrapping_add(1),
    })
}

/// The client's handshake response, after TLS when it asks for it: the stream to the
/// client from then on, the response's sequence id, and the response.
async fn receive_response(
    mut stream: Stream,
    buf: &mut BytesMut,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(Stream, u8, HandshakeResponse), HandshakeError> {
    // Read exactly one packet: after an SSL request the client's TLS handshake
    // follows at once, and those bytes belong to the TLS layer, not to this buffer.
    let (mut seq, mut payload) = read_exact_packet(&mut stream).await?;
    if is_ssl_request(&payload) {
        stream = accept_tls(stream, seq, tls).await?;
        buf.clear();
        (seq, payload) = read_payload(&mut stream, buf, HANDSHAKE_LIMIT).await?;
    }
    match HandshakeResponse::parse(&payload) {
        Ok(response) => Ok((stream, seq, response)),
        Err(m) => {
            let message = format!("Malformed communication packet: {m}");
            Err(refuse(&mut stream, seq, ErrPacket::new(1835, "08S01", message)).await)
        }
    }
}

/// TLS after the client's SSL request (packet `seq`), refused when sluice has no
/// certificate.
async fn accept_tls(
    mut stream: Stream,
    seq: u8,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<Stream, HandshakeError> {
    let Some(config) = tls else {
        let err = ErrPacket::new(
            1043,
            "08S01",
            "Bad handshake: TLS was requested but sluice has no certificate",
        );
        return Err(refuse(&mut stream, seq, err).await);
    };
    let Stream::Plain(tcp) = stream else {
        unreachable!("TLS starts once")
    };
    let accepted = tokio_rustls::TlsAcceptor::from(config)
        .accept(tcp)
        .await
        .map_err(HandshakeError::Tls)?;
    Ok(Stream::Accepted(Box::new(accepted)))
}

async fn read_exact_packet(stream: &mut Stream) -> Result<(u8, BytesMut), HandshakeError> {
    let mut header = [0u8; 4];
    if let Err(e) = stream.read_exact(&mut header).await {
        return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
            HandshakeError::Gone(ReadError::Closed)
        } else {
            e.into()
        });
    }
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len > HANDSHAKE_LIMIT {
        return Err(HandshakeError::Gone(ReadError::TooLarge(len)));
    }
    let mut payload = BytesMut::zeroed(len);
    stream.read_exact(&mut payload).await?;
    Ok((header[3], payload))
}

/// Sends `err` as the next packet and reports it.
pub async fn refuse(stream: &mut Stream, last_seq: u8, err: ErrPacket) -> HandshakeError {
    let mut out = BytesMut::new();
    err.encode(&mut out, last_seq.wrapping_add(1));
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
    HandshakeError::Refused(err)
}

/// Drives the plugin exchange over the wire; `seq` is the sequence id of the client's
/// latest packet. True when the client proved its password.
async fn exchange(
    stream: &mut Stream,
    buf: &mut BytesMut,
    seq: &mut u8,
    fe: &Frontend,
    auth: &Arc<AuthConfig>,
    scramble: &[u8; SCRAMBLE_LEN],
    resp: &HandshakeResponse,
) -> Result<bool, HandshakeError> {
    let secrets = auth.secrets(&resp.username);
    let mut machine = PluginExchange::new(
        *scramble,
        stream.is_tls(),
        secrets.is_some(),
        secrets.and_then(|s| s.native.as_ref()),
        secrets.and_then(|s| s.sha256.as_ref()),
    );
    let mut action = machine.start(resp.auth_plugin.as_deref(), &resp.auth_response);
    loop {
        action = match action {
            Action::Send(payload) => {
                send(stream, seq, &payload).await?;
                let (client_seq, answer) = read_payload(stream, buf, HANDSHAKE_LIMIT).await?;
                *seq = client_seq;
                machine.receive(&answer)
            }
            Action::NeedRsaKey => machine.with_rsa_key(fe.rsa_key().await),
            Action::Decrypt(decryption) => {
                // Milliseconds of CPU: on a blocking thread, not the event loop.
                let password = tokio::task::spawn_blocking(move || decryption.run())
                    .await
                    .map_err(|e| HandshakeError::Io(std::io::Error::other(e)))?;
                machine.decrypted(password)
            }
            Action::Done(Outcome::Accepted { fast_auth_notice }) => {
                if fast_auth_notice {
                    send(stream, seq, &[0x01, caching_sha2::FAST_AUTH_SUCCESS]).await?;
                }
                return Ok(true);
            }
            Action::Done(Outcome::CheckPassword(password)) => {
                // A SCRAM verifier's check is an iterated hash: off the event loop too.
                let auth = auth.clone();
                let user = resp.username.clone();
                return tokio::task::spawn_blocking(move || auth.check_clear(&user, &password))
                    .await
                    .map_err(|e| HandshakeError::Io(std::io::Error::other(e)));
            }
            Action::Done(Outcome::Denied { why }) => {
                if let Some(why) = why {
                    tracing::info!(user = %resp.username, "{why}");
                }
                return Ok(false);
            }
        };
    }
}

/// Sends one packet as sluice's next, after the client's packet `seq`; `seq` then
/// names it.
async fn send(stream: &mut Stream, seq: &mut u8, payload: &[u8]) -> std::io::Result<()> {
    *seq = seq.wrapping_add(1);
    let mut out = BytesMut::new();
    packet::write_packet(&mut out, *seq, payload);
    stream.write_all(&out).await
}

/// The OK that ends the handshake; `flags` are status flags the servers report (see
/// [`Frontend::server_flags`]).
pub fn encode_handshake_ok(out: &mut BytesMut, seq: u8, capabilities: u32, flags: u16) {
    OkPacket {
        status: status::AUTOCOMMIT | flags,
        ..OkPacket::default()
    }
    .encode(out, seq, capabilities & caps::SESSION_TRACK != 0);
}
