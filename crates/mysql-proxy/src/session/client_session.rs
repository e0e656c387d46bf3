//! The state of one client's session, and the answers sluice gives the client itself
//! (OK, ERR, status flags).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use pool_core::activity::ClientListing;
use pool_core::net::stream::Stream;
use pool_core::pool::PooledConnection;
use tokio::io::AsyncWriteExt;

use crate::frontend::Frontend;
use crate::kill::KillSlot;
use crate::protocol::capabilities::{self as caps, status};
use crate::protocol::ok_err::{ErrPacket, OkPacket};
use crate::route::{Access, MemberManager, Route};
use crate::state::client::ClientState;
use crate::state::pin::PinReason;

/// A server connection checked out of a route's pool.
pub(super) type ServerGuard = PooledConnection<Arc<MemberManager>>;

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
    pub(super) fe: Arc<Frontend>,
    pub(super) route: Arc<Route>,
    pub(super) access: Access,
    pub(super) peer: SocketAddr,
    pub(super) user: String,
    pub(super) client: Stream,
    pub(super) client_buf: BytesMut,
    /// Bytes on their way to the client.
    pub(super) out: BytesMut,
    /// The command on its way to the server (kept to reuse its buffer).
    pub(super) wire: BytesMut,
    pub(super) capabilities: u32,
    pub(super) state: ClientState,
    pub(super) server: Option<ServerGuard>,
    pub(super) kill: Arc<KillSlot>,
    /// The session in SHOW CLIENTS: what it does now, and the switch KILL_CLIENT throws.
    pub(super) listing: ClientListing,
    /// Status flags of the server's latest answer that sluice's own OK packets repeat
    /// (NO_BACKSLASH_ESCAPES, ANSI_QUOTES): drivers choose their quoting by them.
    pub(super) server_flags: u16,
    /// The command being served gets no reply (COM_STMT_SEND_LONG_DATA, ...): an
    /// error cannot be told to the client in turn, so it ends the session instead.
    pub(super) no_reply: bool,
    /// Counts the client as pinned until the session ends.
    pub(super) pinned_count: Option<pool_core::route_metrics::PinnedClient>,
}

impl Session {
    /// Status flags for answers sluice gives itself.
    pub(super) fn status(&self) -> u16 {
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

    pub(super) async fn flush(&mut self) -> Result<(), SessionEnd> {
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

    pub(super) async fn send_err(&mut self, seq: u8, err: ErrPacket) -> Result<(), SessionEnd> {
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

    pub(super) async fn send_ok(&mut self) -> Result<(), SessionEnd> {
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

    pub(super) fn pin(&mut self, why: PinReason) {
        if self.state.pinned.is_none() {
            tracing::debug!(peer = %self.peer, route = %self.route.name, reason = why.as_str(), "client keeps its server connection");
            self.pinned_count = Some(self.route.metrics.count_pinned(why.as_str()));
            self.state.pinned = Some(why);
        }
    }
}
