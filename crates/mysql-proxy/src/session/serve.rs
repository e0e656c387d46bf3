//! A client from accept to close: the handshake, admission to its database's route,
//! the final OK, then its commands until it leaves.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use pool_core::activity::ClientInfo;
use pool_core::frontend::HandshakeRefusal;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::client_auth::{self, encode_handshake_ok, handshake, Authenticated, HandshakeError};
use super::client_session::Session;
use crate::frontend::Frontend;
use crate::metrics::count_error;
use crate::protocol::capabilities as caps;
use crate::protocol::ok_err::ErrPacket;
use crate::route::{Access, Route};
use crate::state::client::ClientState;

/// Runs one client from accept to close.
pub async fn serve_client(fe: Arc<Frontend>, tcp: TcpStream, peer: SocketAddr, access: Access) {
    let _ = tcp.set_nodelay(true);
    let handshake_slot = match fe.begin_handshake(peer.ip()) {
        Ok(slot) => slot,
        Err(refusal) => return refuse_before_greeting(tcp, peer, refusal).await,
    };
    let connection_id = fe.kills.next_id();
    let authed = authenticate(&fe, tcp, peer, connection_id).await;
    drop(handshake_slot);
    let Some(mut authed) = authed else {
        return;
    };
    let refuse_seq = authed.seq.wrapping_sub(1);
    // Counted only now: a client that has not proved who it is takes no one's place.
    let (mut slot, admitted) = fe.admit();
    if !admitted {
        count_error("too_many_clients");
        let err = ErrPacket::new(1040, "08004", "Too many connections");
        let _ = client_auth::refuse(&mut authed.stream, refuse_seq, err).await;
        return;
    }
    let route = match route_for(&fe, authed.response.database.as_deref()) {
        Ok(route) => route,
        Err(err) => {
            count_error("unknown_database");
            let _ = client_auth::refuse(&mut authed.stream, refuse_seq, err).await;
            return;
        }
    };
    let user = &authed.response.username;
    if !fe.auth().databases.admits(&route.name, user) {
        // The database is bound to other users.
        count_error("client_auth");
        tracing::info!(user = %user, %peer, database = %route.name, "user not bound to the database");
        let err = ErrPacket::new(
            1045,
            "28000",
            format!(
                "Access denied for user '{user}'@'{}' to database '{}'",
                peer.ip(),
                route.name
            ),
        );
        let _ = client_auth::refuse(&mut authed.stream, refuse_seq, err).await;
        return;
    }
    if !slot.join_route(&route) {
        count_error("too_many_clients");
        let err = ErrPacket::new(
            1040,
            "08004",
            format!("Too many connections to pool '{}'", route.name),
        );
        let _ = client_auth::refuse(&mut authed.stream, refuse_seq, err).await;
        return;
    }
    let mut out = BytesMut::with_capacity(64);
    let server_flags = route.cluster.status_flags();
    encode_handshake_ok(&mut out, authed.seq, authed.capabilities, server_flags);
    if authed.stream.write_all(&out).await.is_err() {
        return;
    }
    out.clear();
    let user = authed.response.username.clone();
    let registration = fe.kills.register(connection_id, &user, route.clone());
    let listing = fe.activity.add_client(ClientInfo {
        protocol: "mysql",
        user: user.clone(),
        database: route.name.clone(),
        peer,
        tls: authed.stream.is_tls(),
        application_name: String::new(),
        wire_id: registration.slot.id,
    });
    let r = &authed.response;
    let mut session = Session {
        state: ClientState::new(
            r.database.clone(),
            r.collation,
            authed.capabilities & caps::MULTI_STATEMENTS != 0,
        ),
        fe: fe.clone(),
        route,
        access,
        peer,
        user,
        client: authed.stream,
        client_buf: authed.read_buf,
        out,
        wire: BytesMut::new(),
        capabilities: authed.capabilities,
        server: None,
        kill: registration.slot.clone(),
        listing,
        no_reply: false,
        pinned_count: None,
        server_flags,
    };
    tracing::debug!(%peer, user = %session.user, route = %session.route.name, ?access, "MySQL client connected");
    if let Err(e) = session.run().await {
        tracing::info!(%peer, user = %session.user, error = %e, "MySQL session ended");
    }
    session.finish().await;
    drop(registration);
}

/// Over the cap on handshakes in progress: the server's "Too many connections" in
/// place of its greeting, as MySQL sends it when it is full.
async fn refuse_before_greeting(mut tcp: TcpStream, peer: SocketAddr, refusal: HandshakeRefusal) {
    count_error(refusal.as_str());
    tracing::info!(%peer, reason = %refusal, "MySQL connection refused");
    let mut out = BytesMut::with_capacity(64);
    ErrPacket::new(1040, "08004", format!("Too many connections: {refusal}"))
        .encode_before_greeting(&mut out);
    let _ = tcp.write_all(&out).await;
    let _ = tcp.shutdown().await;
}

/// The handshake within the frontend's time limit; `None` (logged and counted) when
/// the client did not prove who it is.
async fn authenticate(
    fe: &Arc<Frontend>,
    tcp: TcpStream,
    peer: SocketAddr,
    connection_id: u32,
) -> Option<Authenticated> {
    match tokio::time::timeout(fe.auth_timeout, handshake(fe, tcp, peer, connection_id)).await {
        Err(_) => {
            count_error("auth_timeout");
            tracing::info!(%peer, "MySQL client did not finish the handshake in time");
            None
        }
        Ok(Err(HandshakeError::Refused(e))) => {
            count_error("auth");
            tracing::info!(%peer, error = %e, "MySQL client refused");
            None
        }
        Ok(Err(e)) => {
            count_error("handshake");
            tracing::info!(%peer, error = %e, "MySQL handshake failed");
            None
        }
        Ok(Ok(a)) => Some(a),
    }
}

/// The route serving the database the client named; without one, the only route
/// when there is just one.
fn route_for(fe: &Frontend, database: Option<&str>) -> Result<Arc<Route>, ErrPacket> {
    let found = match database {
        Some(db) => fe.route(db),
        None => {
            let routes = fe.routes();
            if routes.len() == 1 {
                routes.values().next().cloned()
            } else {
                None
            }
        }
    };
    found.ok_or_else(|| match database {
        Some(db) => ErrPacket::new(1049, "42000", format!("Unknown database '{db}'")),
        None => ErrPacket::new(
            1046,
            "3D000",
            "No database selected: sluice picks the pool by database, connect with one",
        ),
    })
}
