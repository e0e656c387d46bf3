//! The start of a client connection: TLS negotiation, the StartupMessage, route and
//! limits, client authentication, and the welcome (parameters, cancel key).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::attached::{Attached, ServerGuard};
use super::client_listing::list_client;
use super::console_login::{console_login, serve_console, ConsoleClient};
use super::lifecycle::check_out;
use super::login::check_password;
use super::refusal::{refuse, send_refusal, Refusal};
use super::relay::{Relay, SessionInfo};
use super::startup_settings::startup_settings;
use crate::console::is_console_database;
use crate::frontend::Frontend;
use crate::metrics::count_error;
use crate::protocol::backend;
use crate::protocol::startup::{self, StartupError, StartupPacket, StartupParams};
use crate::protocol::tags::TxStatus;
use crate::route::{PoolMode, Route, ServerParams};
use crate::server::{simple_query, QueryAnswer, ServerError};
use crate::state::encoding_names::encoding_name;
use crate::state::settings::{SettingValue, Settings};
use crate::stream::Stream;

/// Serves one client connection from accept to close. (Not an `async fn`, which
/// would keep a second copy of its arguments in the session's future.)
#[allow(clippy::manual_async_fn)]
pub fn serve_client(
    fe: Arc<Frontend>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        // The start (TLS, startup, authentication, welcome; a console session whole)
        // runs in an allocation of its own, freed before the session's long life: an
        // idle session keeps only what it needs.
        let Some((relay, attached, slot)) = Box::pin(start(&fe, tcp, peer)).await else {
            return;
        };
        let span = tracing::debug_span!("session", client = %peer);
        let _ = tracing::Instrument::instrument(relay.run(attached), span).await;
        drop(slot);
    }
}

/// Everything before the relay: the session ready to run, with the server connection
/// a session-mode client was given and its place under max_client_conn; `None` when
/// the connection ended before (refused, a cancel request, a console session).
async fn start(
    fe: &Arc<Frontend>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<(Relay, Option<Attached>, crate::frontend::ClientSlot)> {
    let _ = tcp.set_nodelay(true);
    let handshake_slot = match fe.begin_handshake(peer.ip()) {
        Ok(slot) => slot,
        Err(refusal) => {
            count_error(refusal.as_str());
            // Before the startup packet: libpq and the drivers read an ErrorResponse
            // in place of the answer to SSLRequest or the authentication request.
            let mut stream = Stream::Plain(tcp);
            send_refusal(&mut stream, peer, refuse("53300", refusal.to_string())).await;
            return None;
        }
    };
    let mut buf = BytesMut::new();
    let started = tokio::time::timeout(fe.auth_timeout, async {
        let (mut stream, params) = match negotiate(fe, Stream::Plain(tcp), &mut buf, peer).await {
            Ok(Some(x)) => x,
            Ok(None) => return None,
            Err((stream, refusal)) => return Some((stream, Err(refusal))),
        };
        let result = handshake(fe, &mut stream, &mut buf, peer, params).await;
        Some((Some(stream), result))
    })
    .await;
    drop(handshake_slot);
    let (mut stream, client) = match started {
        Ok(None) => return None,
        Ok(Some((Some(stream), Ok(Login::Route(client))))) => (stream, client),
        Ok(Some((Some(mut stream), Ok(Login::Console(console))))) => {
            serve_console(fe, &mut stream, buf, peer, console).await;
            return None;
        }
        Ok(Some((stream, Err(refusal)))) => {
            if let Some(mut stream) = stream {
                send_refusal(&mut stream, peer, refusal).await;
            }
            return None;
        }
        Ok(Some((None, Ok(_)))) => return None,
        Err(_) => {
            count_error("startup_timeout");
            tracing::info!(client = %peer, "client did not finish the startup in time");
            return None;
        }
    };
    // Outside the client's time for authentication: a session-mode client waits here
    // for its server connection as long as the pool's checkout timeout allows.
    let ready = match welcome(fe, &mut stream, client).await {
        Ok(ready) => ready,
        Err(refusal) => {
            send_refusal(&mut stream, peer, refusal).await;
            return None;
        }
    };
    let Welcomed {
        route,
        info,
        cancel,
        slot,
        server,
    } = ready;
    tracing::debug!(client = %peer, user = %info.user, route = %route.name, "session started");
    let listing = list_client(fe, peer, &stream, &info, &route.name, &cancel);
    let mut relay = Relay::new(route, info, stream, buf, cancel, listing)
        .with_client_write_timeout(fe.client_write_timeout);
    let attached = match server {
        Some(conn) => match relay.adopt(conn).await {
            Ok(attached) => Some(attached),
            Err(e) => {
                relay.log_end(&Err(e));
                return None;
            }
        },
        None => None,
    };
    Some((relay, attached, slot))
}

/// What a login reaches: a route, or the admin console.
enum Login {
    Route(Authenticated),
    Console(ConsoleClient),
}

/// A client that has authenticated, before sluice welcomes it.
struct Authenticated {
    route: Arc<crate::route::Route>,
    user: String,
    database: String,
    params: StartupParams,
    slot: crate::frontend::ClientSlot,
}

struct Welcomed {
    route: Arc<crate::route::Route>,
    info: SessionInfo,
    cancel: crate::cancel::Registration,
    slot: crate::frontend::ClientSlot,
    /// The session-mode client's server connection, checked out at startup.
    server: Option<ServerGuard>,
}

/// TLS negotiation and the startup packet. `None` for a cancel request, which ends the
/// connection. A refusal carries the stream when there is still one to write to.
async fn negotiate(
    fe: &Arc<Frontend>,
    mut stream: Stream,
    buf: &mut BytesMut,
    peer: SocketAddr,
) -> Result<Option<(Stream, StartupParams)>, (Option<Stream>, Refusal)> {
    loop {
        let packet = match read_startup_packet(&mut stream, buf).await {
            Ok(p) => p,
            Err(r) => return Err((Some(stream), r)),
        };
        match packet {
            StartupPacket::SslRequest => {
                if stream.is_tls() {
                    return Err((
                        Some(stream),
                        refuse("08P01", "SSLRequest received over TLS"),
                    ));
                }
                if !buf.is_empty() {
                    // Bytes sent before the TLS handshake could be injected by a third party.
                    return Err((
                        Some(stream),
                        refuse("08P01", "unencrypted data after SSL request"),
                    ));
                }
                let Stream::Plain(mut tcp) = stream else {
                    unreachable!("a plain stream was checked above")
                };
                if let Some(config) = fe.tls() {
                    if let Err(r) = write_tcp(&mut tcp, b"S").await {
                        return Err((None, r));
                    }
                    match tokio_rustls::TlsAcceptor::from(config).accept(tcp).await {
                        Ok(tls) => stream = Stream::Accepted(Box::new(tls)),
                        Err(e) => {
                            count_error("client_tls");
                            return Err((
                                None,
                                refuse("08P01", format!("TLS handshake failed: {e}")),
                            ));
                        }
                    }
                } else {
                    stream = Stream::Plain(tcp);
                    if let Err(r) = write(&mut stream, b"N").await {
                        return Err((None, r));
                    }
                }
            }
            StartupPacket::GssEncRequest => {
                if let Err(r) = write(&mut stream, b"N").await {
                    return Err((None, r));
                }
            }
            StartupPacket::Cancel {
                process_id,
                secret_key,
            } => {
                let outcome = fe.cancels.cancel(process_id, secret_key).await;
                tracing::debug!(client = %peer, ?outcome, "cancel request");
                return Ok(None);
            }
            StartupPacket::Startup(params) => return Ok(Some((stream, params))),
        }
    }
}

async fn handshake(
    fe: &Arc<Frontend>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    peer: SocketAddr,
    params: StartupParams,
) -> Result<Login, Refusal> {
    if !buf.is_empty() {
        return Err(refuse(
            "08P01",
            "data after the startup packet before authentication",
        ));
    }
    let user = params
        .get("user")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            refuse(
                "28000",
                "no PostgreSQL user name specified in startup packet",
            )
        })?
        .to_owned();
    let database = params
        .get("database")
        .filter(|d| !d.is_empty())
        .unwrap_or(&user)
        .to_owned();
    if params
        .get("replication")
        .is_some_and(|r| r != "false" && r != "0" && r != "off")
    {
        return Err(refuse(
            "08P01",
            "replication connections are not supported by sluice",
        ));
    }
    if is_console_database(&database) {
        let client = console_login(fe, stream, buf, peer, &database, &user).await?;
        return Ok(Login::Console(client));
    }
    let Some(route) = fe.route(&database) else {
        return Err(refuse(
            "3D000",
            format!("database \"{database}\" does not exist"),
        ));
    };
    let auth = fe.auth();
    if !auth.databases.admits(&database, &user) {
        // As an access rule would, before any password: the database is bound to
        // other users.
        count_error("client_auth");
        return Err(Refusal {
            code: "28000".into(),
            message: format!("user \"{user}\" may not connect to database \"{database}\""),
            log: format!("user not bound to the database: user {user}, database {database}"),
        });
    }
    check_password(&auth, stream, buf, peer, &database, &user).await?;
    // Counted only now: a client that has not proved who it is takes no one's place.
    let (mut slot, admitted) = fe.admit();
    if !admitted {
        count_error("too_many_clients");
        return Err(refuse("53300", "sorry, too many clients already"));
    }
    if !slot.join_route(&route) {
        count_error("too_many_clients");
        return Err(refuse(
            "53300",
            format!("sorry, too many clients already for database \"{database}\""),
        ));
    }
    Ok(Login::Route(Authenticated {
        route,
        user,
        database,
        params,
        slot,
    }))
}

/// Welcomes an authenticated client: its parameters, its cancel key, ReadyForQuery.
async fn welcome(
    fe: &Arc<Frontend>,
    stream: &mut Stream,
    client: Authenticated,
) -> Result<Welcomed, Refusal> {
    let Authenticated {
        route,
        user,
        database,
        params,
        slot,
    } = client;
    // In session mode the server connection is the client's from the start, so the
    // client is told that server's process id (pg_backend_pid() and notifications then
    // agree with it).
    let base_settings = startup_settings(&params);
    let server = match route.settings.mode {
        PoolMode::Session => {
            let server = check_out(&route)
                .await
                .map_err(|(code, message)| refuse(code, message))?;
            // The client's own server takes its settings now, so that it is told the
            // server's values in the server's spelling (EUC_JP for euc-jp), and a value
            // the server refuses fails the login as it would on a direct connection.
            Some(apply_startup_settings(server, &base_settings).await?)
        }
        PoolMode::Transaction => None,
    };
    let mut out = BytesMut::with_capacity(512);
    backend::authentication_ok(&mut out);
    match &server {
        Some(server) => {
            for (name, value) in &server.params {
                backend::parameter_status(&mut out, name, value);
            }
        }
        None => {
            let server_params = startup_params(&route).await?;
            for (name, value) in server_params.iter() {
                match base_settings.get(name) {
                    Some(SettingValue::Text(v)) => {
                        backend::parameter_status(&mut out, name, reported_value(name, v))
                    }
                    _ => backend::parameter_status(&mut out, name, value),
                }
            }
            if !server_params.iter().any(|(k, _)| k == "application_name") {
                if let Some(SettingValue::Text(v)) = base_settings.get("application_name") {
                    backend::parameter_status(&mut out, "application_name", v);
                }
            }
        }
    }
    let cancel = fe
        .cancels
        .register(server.as_ref().map(|s| s.cancel.process_id));
    backend::backend_key_data(&mut out, cancel.slot.process_id, cancel.slot.secret_key);
    backend::ready_for_query(&mut out, TxStatus::Idle);
    write(stream, &out).await?;
    Ok(Welcomed {
        route,
        info: SessionInfo {
            user,
            database,
            base_settings,
        },
        cancel,
        slot,
        server,
    })
}

/// The parameters of the route's servers, as the latest server connection reported
/// them; when none was opened yet, one is opened to learn them.
async fn startup_params(route: &Route) -> Result<ServerParams, Refusal> {
    if let Some(p) = route.pool.manager().startup_params() {
        return Ok(p);
    }
    let conn = route.pool.get().await.map_err(|e| {
        refuse(
            "08006",
            format!("pool \"{}\" cannot reach its database: {e}", route.name),
        )
    })?;
    drop(conn);
    route
        .pool
        .manager()
        .startup_params()
        .ok_or_else(|| refuse("08006", "no server parameters available"))
}

/// Runs the client's startup settings on its session-mode server connection. A server
/// that refuses them stays in the pool (the SETs ran as one implicit transaction, rolled
/// back whole); one that fails otherwise is closed.
async fn apply_startup_settings(
    mut server: ServerGuard,
    wanted: &Settings,
) -> Result<ServerGuard, Refusal> {
    let Some(sql) = wanted.diff_sql(&server.settings) else {
        return Ok(server);
    };
    match simple_query(&mut server, &sql).await {
        Ok(QueryAnswer { idle: true, .. }) => {
            server.settings = wanted.clone();
            Ok(server)
        }
        Err(ServerError::Rejected(fields)) => Err(refuse(fields.code, fields.message)),
        Ok(_) | Err(_) => {
            server.discard();
            Err(refuse(
                "08006",
                "the server connection failed while applying the startup parameters",
            ))
        }
    }
}

/// The value a server reports for a parameter a client set at startup, in the server's
/// spelling where sluice knows it without asking (transaction mode has no server yet).
fn reported_value<'a>(name: &str, value: &'a str) -> &'a str {
    match name {
        "client_encoding" => encoding_name(value).unwrap_or(value),
        _ => value,
    }
}

async fn write(stream: &mut Stream, bytes: &[u8]) -> Result<(), Refusal> {
    stream
        .write_all(bytes)
        .await
        .map_err(|e| refuse("08P01", format!("client I/O: {e}")))
}

async fn write_tcp(tcp: &mut TcpStream, bytes: &[u8]) -> Result<(), Refusal> {
    tcp.write_all(bytes)
        .await
        .map_err(|e| refuse("08P01", format!("client I/O: {e}")))
}

async fn read_startup_packet(
    stream: &mut Stream,
    buf: &mut BytesMut,
) -> Result<StartupPacket, Refusal> {
    let protocol_error = |e: StartupError| {
        count_error("client_protocol");
        match e {
            StartupError::UnsupportedVersion { .. } => refuse("0A000", e.to_string()),
            other => refuse("08P01", other.to_string()),
        }
    };
    while buf.len() < 4 {
        read_more(stream, buf).await?;
    }
    let len = startup::packet_len([buf[0], buf[1], buf[2], buf[3]]).map_err(protocol_error)?;
    while buf.len() < len {
        read_more(stream, buf).await?;
    }
    let packet = buf.split_to(len);
    startup::parse(&packet[4..]).map_err(protocol_error)
}

async fn read_more(stream: &mut Stream, buf: &mut BytesMut) -> Result<(), Refusal> {
    buf.reserve(1024);
    match stream.read_buf(buf).await {
        Ok(0) => Err(Refusal {
            code: "08P01".into(),
            message: "incomplete startup packet".into(),
            log: "client closed the connection during startup".into(),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(refuse("08P01", format!("client I/O: {e}"))),
    }
}
