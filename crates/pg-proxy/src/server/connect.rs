//! Opening a server connection: TCP, optional TLS, StartupMessage, authentication,
//! then the primary check.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::auth::authenticate;
use super::conn::{CancelTarget, ServerConn};
use super::messages::read_message;
use super::owner_role::OwnerRole;
use super::simple_query::simple_query;
use super::statements::ServerStatements;
use super::ServerError;
use crate::protocol::error_fields::ErrorFields;
use crate::protocol::startup;
use crate::protocol::tags::backend;
use crate::state::settings::Settings;
use crate::stream::Stream;
use crate::tls::ServerTlsMode;
use pool_core::credentials::Credentials;
use pool_core::net::connect::{connect_tcp, deadline_passed, start_tls, LinkError};

pub use pool_core::net::Endpoint;

#[derive(Clone)]
pub struct ConnectOptions {
    pub database: String,
    pub tls_mode: ServerTlsMode,
    pub tls: Option<Arc<ClientConfig>>,
    pub connect_timeout: Duration,
    /// Refuse a server that is in recovery (read-write routes).
    pub require_primary: bool,
    /// Bound on shared prepared statements kept per server connection.
    pub statement_cache: usize,
    /// With `tls_mode = "prefer"` on a server without TLS: send a cleartext or md5
    /// password all the same.
    pub allow_plaintext_password: bool,
    /// Sent at startup when set, so that the server lists the connection under it
    /// (the cluster watcher's); a route's connections take their clients' settings.
    pub application_name: Option<String>,
    /// The role the session acts as, sent at startup so that resets keep it (see
    /// [`OwnerRole`]).
    pub owner_role: Option<OwnerRole>,
}

/// Opens and authenticates a connection; with `require_primary`, fails with
/// [`ServerError::NotPrimary`] on a standby.
pub async fn connect(
    endpoint: &Endpoint,
    opts: &ConnectOptions,
    creds: &Arc<Credentials>,
) -> Result<ServerConn, ServerError> {
    let tcp = connect_tcp(endpoint, opts.connect_timeout).await?;
    let addr = tcp.peer_addr()?;
    let setup = async {
        let mut stream = negotiate_tls(tcp, endpoint, opts).await?;
        let mut buf = BytesMut::with_capacity(4096);
        let mut out = BytesMut::new();
        let mut params = vec![
            ("user", creds.username.as_str()),
            ("database", opts.database.as_str()),
        ];
        if let Some(name) = &opts.application_name {
            params.push(("application_name", name.as_str()));
        }
        let options = opts.owner_role.as_ref().map(OwnerRole::startup_options);
        if let Some(options) = &options {
            params.push(("options", options.as_str()));
        }
        startup::encode_startup(&mut out, &params);
        stream.write_all(&out).await?;
        // A password the link would expose goes only where the operator chose no TLS
        // (or allowed it); `prefer` falling back to none is not such a choice.
        let exposed_ok = stream.is_tls()
            || opts.tls_mode == ServerTlsMode::Disable
            || opts.allow_plaintext_password;
        authenticate(&mut stream, &mut buf, creds, exposed_ok).await?;
        let (params, cancel) = read_until_ready(&mut stream, &mut buf, addr).await?;
        let mut conn = ServerConn {
            stream,
            read_buf: buf,
            cancel,
            params,
            statements: ServerStatements::new(opts.statement_cache),
            settings: Settings::default(),
            credentials: creds.clone(),
        };
        if opts.require_primary && is_in_recovery(&mut conn).await? {
            return Err(ServerError::NotPrimary(endpoint.to_string()));
        }
        Ok(conn)
    };
    tokio::time::timeout(opts.connect_timeout * 2, setup)
        .await
        .map_err(|_| deadline_passed(endpoint))?
}

async fn negotiate_tls(
    mut tcp: TcpStream,
    endpoint: &Endpoint,
    opts: &ConnectOptions,
) -> Result<Stream, ServerError> {
    let Some(config) = opts.tls.clone() else {
        return Ok(Stream::Plain(tcp));
    };
    tcp.write_all(&startup::encode_ssl_request()).await?;
    let answer = tcp.read_u8().await?;
    match answer {
        b'S' => Ok(start_tls(tcp, endpoint, config).await?),
        b'N' if opts.tls_mode == ServerTlsMode::Prefer => Ok(Stream::Plain(tcp)),
        b'N' => Err(LinkError::TlsRefused(endpoint.to_string()).into()),
        other => Err(ServerError::Protocol(format!(
            "unexpected answer {:?} to SSLRequest",
            other as char
        ))),
    }
}

type StartupState = (Vec<(String, String)>, CancelTarget);

async fn read_until_ready(
    stream: &mut Stream,
    buf: &mut BytesMut,
    addr: std::net::SocketAddr,
) -> Result<StartupState, ServerError> {
    let mut params = Vec::new();
    let mut cancel = CancelTarget {
        addr,
        process_id: 0,
        secret_key: 0,
    };
    loop {
        let (tag, body) = read_message(stream, buf).await?;
        match tag {
            backend::PARAMETER_STATUS => {
                let mut parts = body.split(|&b| b == 0);
                let name = parts.next().unwrap_or_default();
                let value = parts.next().unwrap_or_default();
                params.push((
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                ));
            }
            backend::BACKEND_KEY_DATA if body.len() >= 8 => {
                cancel.process_id = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                cancel.secret_key = i32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            }
            backend::READY_FOR_QUERY => return Ok((params, cancel)),
            backend::ERROR_RESPONSE => {
                return Err(ServerError::Rejected(ErrorFields::parse(&body)));
            }
            backend::NOTICE_RESPONSE => {}
            other => {
                return Err(ServerError::Protocol(format!(
                    "unexpected message {:?} after authentication",
                    other as char
                )))
            }
        }
    }
}

/// Asks the server whether it is a standby (or a primary still starting up): the
/// primary check at connect, and the cluster watcher's question at each check.
pub async fn is_in_recovery(conn: &mut ServerConn) -> Result<bool, ServerError> {
    let answer = simple_query(conn, "SELECT pg_catalog.pg_is_in_recovery()").await?;
    match answer.values.first().map(String::as_str) {
        Some("f") => Ok(false),
        Some("t") => Ok(true),
        _ => Err(ServerError::Protocol(
            "pg_is_in_recovery() returned no value".into(),
        )),
    }
}
