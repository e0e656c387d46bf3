//! Opening a server connection: TCP, the greeting, optional TLS, authentication with
//! whichever plugin the server asks for, then turning on session-state tracking.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mysql_common::io::ParseBuf;
use mysql_common::packets::AuthSwitchRequest;
use pool_core::credentials::Credentials;
use pool_core::net::connect::{connect_tcp, deadline_passed, start_tls, LinkError};
use pool_core::net::stream::Stream;
use pool_core::net::tls::ServerTlsMode;
use rustls::ClientConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use super::conn::{ServerConn, TRACK_SESSION_STATE};
use super::error::ServerError;
use super::statements::ServerStatements;
use crate::auth::{caching_sha2, native, rsa_exchange, CACHING_SHA2, CLEAR, NATIVE};
use crate::io::read_payload;
use crate::protocol::capabilities as caps;
use crate::protocol::collation;
use crate::protocol::handshake::{Greeting, HandshakeResponse, Malformed};
use crate::protocol::ok_err::{ErrPacket, ERR, OK};
use crate::protocol::packet;
use crate::state::vars::Vars;

/// Greeting and authentication packets are small.
const HANDSHAKE_LIMIT: usize = 64 * 1024;

pub use pool_core::net::Endpoint;

#[derive(Clone)]
pub struct ConnectOptions {
    pub tls_mode: ServerTlsMode,
    pub tls: Option<Arc<ClientConfig>>,
    pub connect_timeout: Duration,
    /// Ask for LOAD DATA LOCAL INFILE support (only for routes that allow it).
    pub local_infile: bool,
    /// Bound on prepared statements kept per server connection.
    pub statement_cache: usize,
    /// Ask for CLIENT_FOUND_ROWS: affected rows count matched rows, not changed ones.
    /// Fixed for the life of a connection, so clients that asked for it have pools
    /// of their own.
    pub found_rows: bool,
    /// With `tls_mode = "prefer"` on a server without TLS: ask for its RSA key all the
    /// same (an unencrypted link could deliver another key).
    pub allow_plaintext_password: bool,
}

/// Opens and authenticates a connection to `endpoint` (member number `member`), with
/// `database` as its default database.
pub async fn connect(
    endpoint: &Endpoint,
    member: usize,
    opts: &ConnectOptions,
    creds: &Arc<Credentials>,
    database: Option<&str>,
) -> Result<ServerConn, ServerError> {
    let tcp = connect_tcp(endpoint, opts.connect_timeout).await?;
    let setup = handshake(tcp, endpoint, member, opts, creds, database);
    tokio::time::timeout(opts.connect_timeout * 2, setup)
        .await
        .map_err(|_| deadline_passed(endpoint))?
}

async fn handshake(
    tcp: TcpStream,
    endpoint: &Endpoint,
    member: usize,
    opts: &ConnectOptions,
    creds: &Arc<Credentials>,
    database: Option<&str>,
) -> Result<ServerConn, ServerError> {
    let mut stream = Stream::Plain(tcp);
    let mut buf = BytesMut::with_capacity(4096);
    let (seq, payload) = read_payload(&mut stream, &mut buf, HANDSHAKE_LIMIT).await?;
    if payload.first() == Some(&ERR) {
        let err = ErrPacket::parse(&payload).ok_or(ServerError::Protocol("malformed ERR"))?;
        return Err(ServerError::Rejected(err));
    }
    let greeting = Greeting::parse(&payload)?;
    let mut capabilities = caps::REQUESTED_FROM_SERVERS & greeting.capabilities;
    if opts.local_infile {
        capabilities |= caps::LOCAL_FILES;
    }
    if opts.found_rows {
        capabilities |= caps::FOUND_ROWS;
    }
    let mut response = HandshakeResponse {
        capabilities,
        max_packet: 1 << 30,
        collation: collation::DEFAULT,
        username: creds.username.clone(),
        auth_response: Vec::new(),
        database: database.map(str::to_owned),
        auth_plugin: Some(greeting.auth_plugin.clone()),
    };
    let mut seq = seq.wrapping_add(1);
    let mut out = BytesMut::new();
    if let Some(config) = opts.tls.clone() {
        if greeting.capabilities & caps::SSL != 0 {
            response.encode_ssl_request(&mut out, seq);
            stream.write_all(&out).await?;
            out.clear();
            seq = seq.wrapping_add(1);
            response.capabilities |= caps::SSL;
            stream = upgrade(stream, endpoint, config).await?;
        } else if opts.tls_mode != ServerTlsMode::Prefer {
            return Err(LinkError::TlsRefused(endpoint.to_string()).into());
        }
    }
    let password = creds.password.expose().as_bytes();
    response.auth_response = plugin_answer(
        &greeting.auth_plugin,
        password,
        &greeting.scramble,
        stream.is_tls(),
    )?;
    response.encode(&mut out, seq);
    stream.write_all(&out).await?;
    // The RSA key exchange over a link without TLS trusts the key the link delivers:
    // only where the operator chose no TLS (or allowed it).
    let rsa_ok = opts.tls_mode == ServerTlsMode::Disable || opts.allow_plaintext_password;
    authenticate(&mut stream, &mut buf, password, &greeting.scramble, rsa_ok).await?;

    let mut conn = ServerConn {
        stream,
        read_buf: buf,
        thread_id: greeting.connection_id,
        server_version: greeting.server_version,
        greeting_status: greeting.status,
        member,
        schema: database.map(str::to_owned),
        vars: Vars::for_collation(collation::DEFAULT),
        multi_statements: false,
        last_insert_id: 0,
        statements: ServerStatements::new(opts.statement_cache),
        credentials: creds.clone(),
    };
    conn.execute(TRACK_SESSION_STATE).await?;
    Ok(conn)
}

/// TLS over the plain connection the greeting came on.
async fn upgrade(
    stream: Stream,
    endpoint: &Endpoint,
    config: Arc<ClientConfig>,
) -> Result<Stream, ServerError> {
    match stream {
        Stream::Plain(tcp) => Ok(start_tls(tcp, endpoint, config).await?),
        already => Ok(already),
    }
}

/// The answer to a challenge for the plugins sluice can use.
fn plugin_answer(
    plugin: &str,
    password: &[u8],
    nonce: &[u8],
    tls: bool,
) -> Result<Vec<u8>, ServerError> {
    match plugin {
        NATIVE => Ok(native::scramble(password, nonce)),
        CACHING_SHA2 => Ok(caching_sha2::scramble(password, nonce)),
        CLEAR if tls => {
            let mut v = password.to_vec();
            v.push(0);
            Ok(v)
        }
        CLEAR => Err(ServerError::UnsupportedAuth(
            "mysql_clear_password without TLS (set tls_mode to require or verify-full)".into(),
        )),
        other => Err(ServerError::UnsupportedAuth(format!("plugin {other}"))),
    }
}

/// Reads the server's answers to the handshake response until OK, following auth
/// switches and caching_sha2_password's extra round: the password in clear over TLS,
/// else encrypted with the public key the server sends on request.
async fn authenticate(
    stream: &mut Stream,
    buf: &mut BytesMut,
    password: &[u8],
    greeting_nonce: &[u8],
    rsa_ok: bool,
) -> Result<(), ServerError> {
    let mut nonce = greeting_nonce.to_vec();
    let mut awaiting_public_key = false;
    loop {
        let (seq, payload) = read_payload(stream, buf, HANDSHAKE_LIMIT).await?;
        let reply_seq = seq.wrapping_add(1);
        match payload.first() {
            Some(&OK) => return Ok(()),
            Some(&ERR) => {
                let err =
                    ErrPacket::parse(&payload).ok_or(ServerError::Protocol("malformed ERR"))?;
                return Err(ServerError::from_login_error(err));
            }
            Some(0xFE) => {
                let switch: AuthSwitchRequest<'_> = ParseBuf(&payload)
                    .parse(())
                    .map_err(|_| Malformed("auth switch request"))?;
                nonce.clear();
                nonce.extend_from_slice(switch.plugin_data());
                let plugin = switch.auth_plugin();
                let plugin = String::from_utf8_lossy(plugin.as_bytes());
                let answer = plugin_answer(&plugin, password, &nonce, stream.is_tls())?;
                send(stream, reply_seq, &answer).await?;
            }
            Some(0x01) if awaiting_public_key => {
                awaiting_public_key = false;
                let encrypted = rsa_exchange::encrypt_password(&payload[1..], password, &nonce)
                    .map_err(|e| ServerError::UnsupportedAuth(e.to_string()))?;
                send(stream, reply_seq, &encrypted).await?;
            }
            Some(0x01) => match payload.get(1) {
                Some(&caching_sha2::FAST_AUTH_SUCCESS) => {}
                Some(&caching_sha2::PERFORM_FULL_AUTH) if stream.is_tls() => {
                    let mut clear = Zeroizing::new(password.to_vec());
                    clear.push(0);
                    send(stream, reply_seq, &clear).await?;
                }
                Some(&caching_sha2::PERFORM_FULL_AUTH) if !rsa_ok => {
                    return Err(ServerError::UnsupportedAuth(
                        "a full caching_sha2_password login without TLS (tls_mode \"prefer\" found none) needs the server's RSA key over an unencrypted link; enable TLS on the server or set allow_plaintext_password = true on the cluster".into(),
                    ));
                }
                Some(&caching_sha2::PERFORM_FULL_AUTH) => {
                    // No TLS: ask for the server's RSA public key.
                    send(stream, reply_seq, &[caching_sha2::REQUEST_PUBLIC_KEY]).await?;
                    awaiting_public_key = true;
                }
                _ => return Err(ServerError::Protocol("unexpected auth data from server")),
            },
            _ => {
                return Err(ServerError::Protocol(
                    "unexpected packet during authentication",
                ))
            }
        }
    }
}

async fn send(stream: &mut Stream, seq: u8, payload: &[u8]) -> Result<(), ServerError> {
    let mut out = BytesMut::new();
    packet::write_packet(&mut out, seq, payload);
    stream.write_all(&out).await?;
    Ok(())
}
