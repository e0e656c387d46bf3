//! One client's session: the handshake, then its commands, each relayed to a server
//! connection that the session holds for as long as its pooling mode requires.

pub mod client_auth;
mod forward;
pub mod pinning;
mod relay;
mod sync;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use pool_core::net::stream::Stream;
use pool_core::pool::{PoolError, PooledConnection};
use pool_core::shutdown::Phase;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::frontend::Frontend;
use crate::io::{read_split_payload, ReadError};
use crate::kill::{parse_kill, KillSlot, Serving};
use crate::metrics::count_error;
use crate::protocol::capabilities::{self as caps, status};
use crate::protocol::command::Command;
use crate::protocol::ok_err::{encode_eof, ErrPacket, OkPacket};
use crate::protocol::statement::stmt_id;
use crate::route::{Access, MemberManager, PoolMode, Route};
use crate::state::client::ClientState;
use client_auth::{encode_handshake_ok, handshake, HandshakeError};

type ServerGuard = PooledConnection<Arc<MemberManager>>;

/// Runs one client from accept to close.
pub async fn serve_client(fe: Arc<Frontend>, tcp: TcpStream, peer: SocketAddr, access: Access) {
    let _ = tcp.set_nodelay(true);
    let (mut slot, admitted) = fe.admit();
    let connection_id = fe.kills.next_id();
    let authed =
        match tokio::time::timeout(fe.auth_timeout, handshake(&fe, tcp, peer, connection_id)).await
        {
            Err(_) => {
                count_error("auth_timeout");
                tracing::info!(%peer, "MySQL client did not finish the handshake in time");
                return;
            }
            Ok(Err(HandshakeError::Refused(e))) => {
                count_error("auth");
                tracing::info!(%peer, error = %e, "MySQL client refused");
                return;
            }
            Ok(Err(e)) => {
                count_error("handshake");
                tracing::info!(%peer, error = %e, "MySQL handshake failed");
                return;
            }
            Ok(Ok(a)) => a,
        };
    let mut stream = authed.stream;
    let seq = authed.seq;
    let user = authed.response.username.clone();
    if !admitted {
        count_error("too_many_clients");
        let _ = client_auth::refuse(
            &mut stream,
            seq.wrapping_sub(1),
            ErrPacket::new(1040, "08004", "Too many connections"),
        )
        .await;
        return;
    }
    let routes = fe.routes();
    let route = match &authed.response.database {
        Some(db) => fe.route(db),
        None if routes.len() == 1 => routes.values().next().cloned(),
        None => None,
    };
    let Some(route) = route else {
        count_error("unknown_database");
        let err = match &authed.response.database {
            Some(db) => ErrPacket::new(1049, "42000", format!("Unknown database '{db}'")),
            None => ErrPacket::new(
                1046,
                "3D000",
                "No database selected: sluice picks the pool by database, connect with one",
            ),
        };
        let _ = client_auth::refuse(&mut stream, seq.wrapping_sub(1), err).await;
        return;
    };
    if !slot.join_route(&route) {
        count_error("too_many_clients");
        let err = ErrPacket::new(
            1040,
            "08004",
            format!("Too many connections to pool '{}'", route.name),
        );
        let _ = client_auth::refuse(&mut stream, seq.wrapping_sub(1), err).await;
        return;
    }
    let mut out = BytesMut::with_capacity(64);
    let server_flags = route.cluster.status_flags();
    encode_handshake_ok(&mut out, seq, authed.capabilities, server_flags);
    if stream.write_all(&out).await.is_err() {
        return;
    }
    out.clear();
    let registration = fe.kills.register(connection_id, &user, route.clone());
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
        client: stream,
        client_buf: authed.read_buf,
        out,
        wire: BytesMut::new(),
        capabilities: authed.capabilities,
        server: None,
        kill: registration.slot.clone(),
        no_reply: false,
        server_flags,
    };
    tracing::debug!(%peer, user = %session.user, route = %session.route.name, ?access, "MySQL client connected");
    if let Err(e) = session.run().await {
        tracing::info!(%peer, user = %session.user, error = %e, "MySQL session ended");
    }
    session.finish().await;
    drop(registration);
}

/// Why a session ended other than by the client's choice.
#[derive(Debug, thiserror::Error)]
pub enum SessionEnd {
    #[error("client connection failed: {0}")]
    Client(#[from] std::io::Error),
    #[error("client sent {0}")]
    Protocol(&'static str),
    #[error("server connection failed mid-command: {0}")]
    Server(String),
}

pub(crate) struct Session {
    fe: Arc<Frontend>,
    route: Arc<Route>,
    access: Access,
    peer: SocketAddr,
    user: String,
    client: Stream,
    client_buf: BytesMut,
    /// Bytes on their way to the client.
    out: BytesMut,
    /// The command on its way to the server (kept to reuse its buffer).
    wire: BytesMut,
    capabilities: u32,
    state: ClientState,
    server: Option<ServerGuard>,
    kill: Arc<KillSlot>,
    /// Status flags of the server's latest answer that sluice's own OK packets repeat
    /// (NO_BACKSLASH_ESCAPES, ANSI_QUOTES): drivers choose their quoting by them.
    server_flags: u16,
    /// The command being served gets no reply (COM_STMT_SEND_LONG_DATA, ...): an
    /// error cannot be told to the client in turn, so it ends the session instead.
    no_reply: bool,
}

impl Session {
    async fn run(&mut self) -> Result<(), SessionEnd> {
        // Made once for the whole session: they are watched while every command is read.
        let mut draining = self.fe.shutdown.clone();
        let mut closing = self.fe.shutdown.clone();
        let kill = self.kill.clone();
        let drained = draining.reached(Phase::Draining);
        let closed = closing.reached(Phase::Closing);
        let killed = kill.close_requested.notified();
        tokio::pin!(drained, closed, killed);
        loop {
            let idle = self.server.is_none() || !self.state.in_transaction;
            let read = tokio::select! {
                r = read_split_payload(&mut self.client, &mut self.client_buf, self.fe.max_packet) => r,
                _ = &mut killed => return Ok(()),
                _ = &mut drained, if idle => return Ok(()),
                _ = &mut closed => return Ok(()),
            };
            let (seq, last_seq, payload) = match read {
                Ok(p) => p,
                Err(ReadError::Closed) => return Ok(()),
                Err(ReadError::TooLarge(n)) => {
                    count_error("packet_too_large");
                    self.send_err(
                        1,
                        ErrPacket::new(
                            1153,
                            "08S01",
                            format!(
                                "Got a packet bigger than 'max_allowed_packet' bytes ({n} > {})",
                                self.fe.max_packet
                            ),
                        ),
                    )
                    .await?;
                    return Err(SessionEnd::Protocol("a packet over the size limit"));
                }
                Err(ReadError::Io(e)) => return Err(e.into()),
            };
            if seq != 0 {
                count_error("protocol");
                self.send_err(
                    last_seq.wrapping_add(1),
                    ErrPacket::new(1156, "08S01", "Got packets out of order"),
                )
                .await?;
                return Err(SessionEnd::Protocol(
                    "a command with a non-zero sequence id",
                ));
            }
            let Some(&first) = payload.first() else {
                count_error("protocol");
                self.send_err(
                    1,
                    ErrPacket::new(
                        1835,
                        "08S01",
                        "Malformed communication packet: empty command",
                    ),
                )
                .await?;
                return Err(SessionEnd::Protocol("an empty command packet"));
            };
            self.route
                .metrics
                .bytes_from_clients
                .increment(payload.len() as u64 + 4);
            let cmd = Command::from_byte(first);
            match cmd {
                Command::Quit => return Ok(()),
                Command::Ping => self.send_ok().await?,
                Command::StmtClose => {
                    if let Some(id) = stmt_id(&payload) {
                        self.state.statements.remove(&id);
                    }
                }
                Command::SetOption => {
                    match payload.get(1..3).map(|b| u16::from_le_bytes([b[0], b[1]])) {
                        Some(0) => self.state.multi_statements = true,
                        Some(1) => self.state.multi_statements = false,
                        _ => {
                            self.send_err(
                                1,
                                ErrPacket::new(1047, "08S01", "Unknown COM_SET_OPTION value"),
                            )
                            .await?;
                            continue;
                        }
                    }
                    let st = self.status();
                    encode_eof(&mut self.out, 1, st);
                    self.flush().await?;
                }
                Command::ProcessKill => {
                    let target = payload
                        .get(1..5)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    match target {
                        Some(id) => self.kill(id, true).await?,
                        None => {
                            self.send_err(
                                1,
                                ErrPacket::new(1835, "08S01", "Malformed communication packet"),
                            )
                            .await?
                        }
                    }
                }
                Command::Query if parse_kill(&payload[1..]).is_some() => {
                    let (id, connection) = parse_kill(&payload[1..]).expect("checked");
                    self.kill(id, connection).await?;
                }
                Command::ResetConnection => self.reset_connection().await?,
                Command::ChangeUser => {
                    self.send_err(
                        1,
                        ErrPacket::new(
                            1235,
                            "42000",
                            "COM_CHANGE_USER is not supported by sluice: open a new connection",
                        ),
                    )
                    .await?;
                }
                Command::Unsupported(_) => {
                    count_error("unsupported_command");
                    self.send_err(1, ErrPacket::new(1047, "08S01", "Unknown command"))
                        .await?;
                }
                _ => {
                    self.no_reply = cmd.has_no_response();
                    let served = self.forward(cmd, payload).await;
                    self.no_reply = false;
                    served?
                }
            }
        }
    }

    /// Status flags for answers sluice gives itself.
    fn status(&self) -> u16 {
        let mut s = 0;
        if self.state.in_transaction {
            s |= status::IN_TRANS;
        }
        s |= self.server_flags;
        if !self
            .state
            .vars
            .get("autocommit")
            .is_some_and(|v| v.eq_ignore_ascii_case("off") || v == "0")
        {
            s |= status::AUTOCOMMIT;
        }
        s
    }

    async fn flush(&mut self) -> Result<(), SessionEnd> {
        if !self.out.is_empty() {
            self.client.write_all(&self.out).await?;
            self.route
                .metrics
                .bytes_to_clients
                .increment(self.out.len() as u64);
            self.out.clear();
        }
        Ok(())
    }

    async fn send_err(&mut self, seq: u8, err: ErrPacket) -> Result<(), SessionEnd> {
        if self.no_reply {
            // An ERR now would be read as the answer to the client's next command.
            tracing::warn!(peer = %self.peer, error = %err, "error on a command that has no reply; closing the session");
            return Err(SessionEnd::Protocol(
                "an error on a command that has no reply",
            ));
        }
        err.encode(&mut self.out, seq);
        self.flush().await
    }

    async fn send_ok(&mut self) -> Result<(), SessionEnd> {
        let ok = OkPacket {
            status: self.status(),
            ..OkPacket::default()
        };
        ok.encode(
            &mut self.out,
            1,
            self.capabilities & caps::SESSION_TRACK != 0,
        );
        self.flush().await
    }

    async fn kill(&mut self, target: u32, connection: bool) -> Result<(), SessionEnd> {
        match self.fe.kills.kill(&self.user, target, connection).await {
            Ok(()) => self.send_ok().await,
            Err(e) => self.send_err(1, e).await,
        }
    }

    /// COM_RESET_CONNECTION: the client's session starts over (same user and
    /// database). A pinned server connection is reset on the server too.
    async fn reset_connection(&mut self) -> Result<(), SessionEnd> {
        let schema = self.state.schema.clone();
        let multi = self.capabilities & caps::MULTI_STATEMENTS != 0;
        let collation = crate::protocol::collation::DEFAULT;
        if self.state.pinned.is_some() || self.state.in_transaction {
            // The server connection carries state only this client knew about.
            if let Some(mut guard) = self.server.take() {
                self.kill.set_serving(None).await;
                if guard.reset().await.is_err() {
                    guard.discard();
                }
            }
        }
        let charset = self.state.vars.clone();
        self.state = ClientState::new(schema, collation, multi);
        for key in [
            "character_set_client",
            "character_set_connection",
            "character_set_results",
            "collation_connection",
        ] {
            if let Some(v) = charset.get(key) {
                self.state.vars.set(key, v);
            }
        }
        self.release_if_idle().await;
        self.send_ok().await
    }

    /// After a reload replaced this client's route (new credentials, cluster, mode),
    /// its next transaction goes to the new one: nothing of the session lives on a
    /// server connection between transactions. False when the database is gone.
    fn follow_reloaded_route(&mut self) -> bool {
        match self.fe.route(&self.route.name) {
            Some(newer) if !Arc::ptr_eq(&newer, &self.route) => {
                tracing::info!(peer = %self.peer, route = %self.route.name, "client moves to the reloaded route");
                self.route = newer;
                true
            }
            _ => false,
        }
    }

    /// Checks out a server connection when the session has none. A read-only client
    /// whose member cannot be reached is sent to another readable member (or the
    /// writable one) at once, rather than waiting for the member watcher.
    async fn ensure_server(&mut self) -> Result<(), ErrPacket> {
        if self.server.is_some() {
            return Ok(());
        }
        let mut attempts = self.route.pools.len();
        loop {
            let found_rows = self.capabilities & caps::FOUND_ROWS != 0;
            let (member, pool) = self.route.pool_for(self.access, found_rows).map_err(|e| {
                count_error("no_member");
                ErrPacket::new(
                    1105,
                    "HY000",
                    format!("sluice: pool '{}': {e}", self.route.name),
                )
            })?;
            let guard = match pool.get().await {
                Ok(g) => g,
                Err(PoolError::Closed) if self.follow_reloaded_route() => continue,
                Err(PoolError::Connect(inner))
                    if self.access == Access::ReadOnly && attempts > 1 =>
                {
                    attempts -= 1;
                    tracing::warn!(route = %self.route.name, member = %self.route.cluster.endpoints[member],
                        error = %inner, "read-only member unreachable; trying another");
                    self.route
                        .cluster
                        .set_role(member, crate::members::Role::Down);
                    continue;
                }
                Err(e) => return Err(self.checkout_error(member, e)),
            };
            self.route
                .metrics
                .checkout_wait
                .record(guard.waited().as_secs_f64());
            if !guard.tcp_alive() {
                // Closed by the server while idle (timeout, restart, failover).
                guard.discard();
                continue;
            }
            self.kill
                .set_serving(Some(Serving {
                    member,
                    thread_id: guard.thread_id,
                }))
                .await;
            self.server = Some(guard);
            return Ok(());
        }
    }

    fn checkout_error(&self, member: usize, e: PoolError<crate::server::ServerError>) -> ErrPacket {
        let err = match &e {
            PoolError::Timeout(d) => {
                count_error("pool_timeout");
                ErrPacket::new(1040, "08004", format!(
                    "sluice: timed out after {d:?} waiting for a server connection in pool '{}' (member {})",
                    self.route.name, self.route.cluster.endpoints[member]))
            }
            PoolError::Closed => ErrPacket::new(1053, "08S01", "Server shutdown in progress"),
            PoolError::Connect(inner) => {
                count_error("server_connect");
                ErrPacket::new(
                    1105,
                    "HY000",
                    format!(
                        "sluice: cannot open a server connection for pool '{}': {inner}",
                        self.route.name
                    ),
                )
            }
        };
        tracing::warn!(peer = %self.peer, route = %self.route.name, error = %err, "no server connection for a client");
        err
    }

    /// Gives the server connection back at a transaction boundary when nothing ties
    /// the client to it.
    async fn release_if_idle(&mut self) {
        if self.server.is_none()
            || self.route.settings.mode == PoolMode::Session
            || self.state.pinned.is_some()
            || self.state.in_transaction
        {
            return;
        }
        self.kill.set_serving(None).await;
        self.server = None;
    }

    fn pin(&mut self, why: &'static str) {
        if self.state.pinned.is_none() {
            tracing::debug!(peer = %self.peer, route = %self.route.name, reason = why, "client keeps its server connection");
            self.route.metrics.pinned.increment(1);
            self.state.pinned = Some(why);
        }
    }

    /// The client is gone: its server connection goes back clean, or is closed.
    async fn finish(&mut self) {
        let Some(mut guard) = self.server.take() else {
            return;
        };
        self.kill.set_serving(None).await;
        if self.state.pinned.is_some() {
            // Its state (user variables, temporary tables, locks) must not reach
            // another client: reset on the server, or closed when that fails.
            if let Err(e) = guard.reset().await {
                tracing::debug!(error = %e, "resetting a server connection failed; closing it");
                guard.discard();
            }
            return;
        }
        if self.state.in_transaction && guard.execute("ROLLBACK").await.is_err() {
            guard.discard();
            return;
        }
        drop(guard);
    }
}
