//! What the client is told when its command could not run: the server refused what
//! sluice replayed, or the server connection failed before or during the response.

use tokio::io::AsyncWriteExt;

use super::client_session::{Session, SessionEnd};
use super::sync::SyncError;
use crate::metrics::count_error;
use crate::protocol::ok_err::ErrPacket;

impl Session {
    /// Sluice could not prepare the server connection for the command.
    pub(super) async fn sync_failed(&mut self, e: SyncError) -> Result<(), SessionEnd> {
        match e {
            SyncError::Refused(err) => {
                self.release_if_idle().await;
                self.send_err(1, err).await
            }
            SyncError::Server(e) => self.server_failed(e.to_string(), false).await,
        }
    }

    /// The server connection failed. Before any byte of a response went out the client
    /// gets an error and keeps its session; after, its session cannot go on.
    pub(super) async fn server_failed(
        &mut self,
        why: String,
        mid_response: bool,
    ) -> Result<(), SessionEnd> {
        self.server_failed_at(why, mid_response, 1).await
    }

    /// As [`Self::server_failed`], the error taking sequence id `seq` (after the
    /// packets of a response already passed on).
    pub(super) async fn server_failed_at(
        &mut self,
        why: String,
        mid_response: bool,
        seq: u8,
    ) -> Result<(), SessionEnd> {
        count_error("server_io");
        tracing::warn!(peer = %self.peer, route = %self.route.name, error = %why, "server connection failed");
        self.discard_server().await;
        if self.no_reply {
            return Err(SessionEnd::Server(why));
        }
        let lost_state = self.state.pinned.is_some() || self.state.in_transaction;
        // Server error codes only: client libraries treat 2xxx codes (their own) in
        // an ERR packet as a malformed packet.
        let err = ErrPacket::new(
            1158,
            "08S01",
            "sluice: lost the server connection during the query",
        );
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
        if mid_response || lost_state {
            return Err(SessionEnd::Server(why));
        }
        Ok(())
    }
}
