//! What the client is told when its command could not run: the server refused what
//! sluice replayed, or the server connection failed before or during the response.
//! A transaction-mode client that nothing ties to that server connection keeps its
//! session (inside a transaction, `lost_transaction.rs` says what becomes of it);
//! others lose it, as with a direct connection.

use tokio::io::AsyncWriteExt;

use super::client_session::{Session, SessionEnd};
use super::lost_transaction::LOST_CODE;
use super::sync::SyncError;
use crate::metrics::count_error;
use crate::protocol::command::Command;
use crate::protocol::ok_err::ErrPacket;
use crate::route::PoolMode;

/// How far the client's command got when its server connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// It never reached the server (bringing the connection in line or sending the
    /// command failed): it did not run.
    NotSent,
    /// It was sent; `seq` is the sequence id of the next packet to the client (1:
    /// nothing of the response was passed on).
    Sent { seq: u8 },
}

const LOST_QUERY: &str = "sluice: lost the server connection during the query";

impl Session {
    /// Sluice could not prepare the server connection for `cmd`.
    pub(super) async fn sync_failed(
        &mut self,
        e: SyncError,
        cmd: Command,
        payload: &[u8],
    ) -> Result<(), SessionEnd> {
        match e {
            SyncError::Refused(err) => {
                self.release_if_idle().await;
                self.send_err(1, err).await
            }
            SyncError::Server(e) => {
                self.server_failed(e.to_string(), Stage::NotSent, cmd, payload)
                    .await
            }
        }
    }

    /// The server connection failed under `cmd`. The client gets an error (or, for a
    /// lost `ROLLBACK`, OK) and keeps its session when nothing of the response was
    /// passed on, the route is in transaction mode and the client is not pinned;
    /// otherwise its session ends after the error.
    pub(super) async fn server_failed(
        &mut self,
        why: String,
        stage: Stage,
        cmd: Command,
        payload: &[u8],
    ) -> Result<(), SessionEnd> {
        count_error("server_io");
        tracing::warn!(peer = %self.peer, route = %self.route.name, error = %why, "server connection failed");
        self.route.metrics.count_lost_server();
        self.discard_server().await;
        if self.no_reply {
            return Err(SessionEnd::Server(why));
        }
        let (seq, sent) = match stage {
            Stage::NotSent => (1, false),
            Stage::Sent { seq } => (seq, true),
        };
        let keeps_session = seq == 1
            && self.route.settings.mode == PoolMode::Transaction
            && self.state.pinned.is_none();
        // Server error codes only: client libraries treat 2xxx codes (their own) in
        // an ERR packet as a malformed packet.
        let answer = if !keeps_session {
            Some(ErrPacket::new(LOST_CODE, "08S01", LOST_QUERY))
        } else if self.state.in_transaction {
            self.lose_transaction_during(cmd, payload, sent)
        } else {
            // Autocommit: a statement that was sent may have run; sluice does not
            // send it again.
            let outcome = if sent {
                "whether the statement took effect is unknown"
            } else {
                "the statement did not run"
            };
            let message =
                format!("{LOST_QUERY} (the database server stopped or failed over); {outcome}");
            Some(ErrPacket::new(LOST_CODE, "08S01", message))
        };
        let Some(err) = answer else {
            return self.send_ok().await;
        };
        // What the relay had gathered for the client goes first: `seq` counts it.
        let mut out = std::mem::take(&mut self.out);
        err.encode(&mut out, seq);
        // A client that does not read must not hold this task: the session ends anyway
        // if the error cannot be delivered.
        let delivered = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.client.write_all(&out),
        )
        .await;
        if !matches!(delivered, Ok(Ok(()))) {
            return Err(SessionEnd::Server(why));
        }
        out.clear();
        self.out = out;
        if !keeps_session {
            return Err(SessionEnd::Server(why));
        }
        Ok(())
    }
}
