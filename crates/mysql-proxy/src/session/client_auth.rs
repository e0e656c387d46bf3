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

use crate::auth::{caching_sha2, native, CACHING_SHA2, CLEAR, NATIVE};
use crate::frontend::{AuthConfig, Frontend};
use crate::io::{read_payload, ReadError};
use crate::protocol::capabilities::{self as caps, status};
use crate::protocol::handshake::{
    is_ssl_request, AuthSwitch, Greeting, HandshakeResponse, SCRAMBLE_LEN,
};
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
    // Read exactly one packet: after an SSL request the client's TLS handshake
    // follows at once, and those bytes belong to the TLS layer, not to this buffer.
    let (mut seq, mut payload) = read_exact_packet(&mut stream).await?;
    if is_ssl_request(&payload) {
        let Some(config) = tls else {
            return Err(refuse(
                &mut stream,
                seq,
                ErrPacket::new(
                    1043,
                    "08S01",
                    "Bad handshake: TLS was requested but sluice has no certificate",
                ),
            )
            .await);
        };
        let Stream::Plain(tcp) = stream else {
            unreachable!("TLS starts once")
        };
        let accepted = tokio_rustls::TlsAcceptor::from(config)
            .accept(tcp)
            .await
            .map_err(HandshakeError::Tls)?;
        stream = Stream::Accepted(Box::new(accepted));
        buf.clear();
        (seq, payload) = read_payload(&mut stream, &mut buf, HANDSHAKE_LIMIT).await?;
    }
    let response = match HandshakeResponse::parse(&payload) {
        Ok(r) => r,
        Err(m) => {
            return Err(refuse(
                &mut stream,
                seq,
                ErrPacket::new(
                    1835,
                    "08S01",
                    format!("Malformed communication packet: {m}"),
                ),
            )
            .await)
        }
    };
    let capabilities = response.capabilities & offered;
    let auth = fe.auth();
    let user = response.username.clone();
    let database = response.database.clone().unwrap_or_default();
    let method = auth
        .hba
        .method_for(peer.ip(), &database, &user, stream.is_tls());
    let denied = |with_password: bool| {
        ErrPacket::new(
            1045,
            "28000",
            format!(
                "Access denied for user '{}'@'{}' (using password: {})",
                user,
                peer.ip(),
                if with_password { "YES" } else { "NO" }
            ),
        )
    };
    let ok = match method {
        MysqlAuthMethod::Trust => true,
        MysqlAuthMethod::Reject => false,
        MysqlAuthMethod::Password => {
            let mut exchange = Exchange {
                stream: &mut stream,
                buf: &mut buf,
                seq,
                scramble: &scramble,
                fe,
            };
            let verdict = exchange.verify(&auth, &response).await?;
            seq = exchange.seq;
            verdict
        }
    };
    if !ok {
        tracing::info!(user = %user, %peer, method = %method, "MySQL client authentication failed");
        return Err(refuse(&mut stream, seq, denied(!response.auth_response.is_empty())).await);
    }
    Ok(Authenticated {
        stream,
        read_buf: buf,
        response,
        capabilities,
        seq: seq.wrapping_add(1),
    })
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

/// The password round trips after the handshake response; `seq` is the sequence id of
/// the client's latest packet.
struct Exchange<'a> {
    stream: &'a mut Stream,
    buf: &'a mut BytesMut,
    seq: u8,
    scramble: &'a [u8; SCRAMBLE_LEN],
    fe: &'a Frontend,
}

impl Exchange<'_> {
    async fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        packet::write_packet(&mut out, self.seq.wrapping_add(1), payload);
        self.stream.write_all(&out).await
    }

    async fn receive(&mut self) -> Result<BytesMut, HandshakeError> {
        let (seq, payload) = read_payload(self.stream, self.buf, HANDSHAKE_LIMIT).await?;
        self.seq = seq;
        Ok(payload)
    }

    async fn switch_to(&mut self, plugin: &str) -> Result<BytesMut, HandshakeError> {
        let mut data = self.scramble.to_vec();
        data.push(0);
        let switch = AuthSwitch {
            plugin: plugin.to_owned(),
            data,
        };
        let mut out = BytesMut::new();
        switch.encode(&mut out, self.seq.wrapping_add(1));
        self.stream.write_all(&out).await?;
        self.receive().await
    }

    async fn verify(
        &mut self,
        auth: &AuthConfig,
        resp: &HandshakeResponse,
    ) -> Result<bool, HandshakeError> {
        let Some(secrets) = auth.secrets(&resp.username) else {
            return Ok(false);
        };
        let tls = self.stream.is_tls();
        let plugin = resp.auth_plugin.as_deref().unwrap_or(NATIVE);
        // A user known only by a mysql_native_password hash is such an account, as on
        // a MySQL server: caching_sha2_password clients are switched to that plugin.
        let native_only = secrets.sha256.is_none() && secrets.native.is_some();
        if resp.auth_response.is_empty() {
            // Some clients answer for their own default plugin only once asked by
            // name: ask, with the same scramble.
            let target = if (plugin == NATIVE || native_only) && secrets.native.is_some() {
                NATIVE
            } else {
                CACHING_SHA2
            };
            let answer = self.switch_to(target).await?;
            return match target {
                NATIVE => Ok(native::verify(
                    &answer,
                    self.scramble,
                    secrets.native.as_ref().expect("checked"),
                )),
                _ => self.caching_sha2(auth, resp, &answer).await,
            };
        }
        match plugin {
            NATIVE if secrets.native.is_some() => {
                let h = secrets.native.as_ref().expect("checked");
                Ok(native::verify(&resp.auth_response, self.scramble, h))
            }
            CACHING_SHA2 if native_only => {
                let answer = self.switch_to(NATIVE).await?;
                let h = secrets.native.as_ref().expect("checked");
                Ok(native::verify(&answer, self.scramble, h))
            }
            CACHING_SHA2 => self.caching_sha2(auth, resp, &resp.auth_response).await,
            CLEAR if tls => Ok(auth.check_clear(&resp.username, strip_nul(&resp.auth_response))),
            _ => {
                // Another plugin, or one sluice cannot check for this user: ask for
                // caching_sha2_password, which every secret can serve.
                let answer = self.switch_to(CACHING_SHA2).await?;
                self.caching_sha2(auth, resp, &answer).await
            }
        }
    }

    async fn caching_sha2(
        &mut self,
        auth: &AuthConfig,
        resp: &HandshakeResponse,
        answer: &[u8],
    ) -> Result<bool, HandshakeError> {
        let secrets = auth.secrets(&resp.username).expect("caller checked");
        if let Some(h) = &secrets.sha256 {
            if answer.len() == 32 {
                let ok = caching_sha2::verify(answer, self.scramble, h);
                if ok {
                    self.send(&[0x01, caching_sha2::FAST_AUTH_SUCCESS]).await?;
                    self.seq = self.seq.wrapping_add(1);
                }
                return Ok(ok);
            }
        }
        if answer.is_empty() {
            return Ok(false);
        }
        // Full authentication: the password itself, in clear over TLS, else encrypted
        // with sluice's RSA public key, which clients ask for first unless they have it.
        self.send(&[0x01, caching_sha2::PERFORM_FULL_AUTH]).await?;
        self.seq = self.seq.wrapping_add(1);
        let mut reply = self.receive().await?;
        if self.stream.is_tls() {
            return Ok(auth.check_clear(&resp.username, strip_nul(&reply)));
        }
        let key = self.fe.rsa_key().await;
        if reply.as_ref() == [caching_sha2::REQUEST_PUBLIC_KEY] {
            let pem = key.public_pem().as_bytes();
            let mut data = Vec::with_capacity(1 + pem.len());
            data.push(0x01);
            data.extend_from_slice(pem);
            self.send(&data).await?;
            self.seq = self.seq.wrapping_add(1);
            reply = self.receive().await?;
        }
        match key.decrypt_password(&reply, self.scramble) {
            Some(password) => Ok(auth.check_clear(&resp.username, &password)),
            None => {
                tracing::info!(user = %resp.username,
                    "caching_sha2_password full authentication without TLS: the answer is not encrypted with sluice's RSA key");
                Ok(false)
            }
        }
    }
}

fn strip_nul(b: &[u8]) -> &[u8] {
    b.strip_suffix(&[0]).unwrap_or(b)
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
