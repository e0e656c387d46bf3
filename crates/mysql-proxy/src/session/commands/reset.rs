//! COM_RESET_CONNECTION (the session starts over, answered by sluice) and
//! COM_CHANGE_USER (refused: a pooled session cannot change its user).

use crate::protocol::capabilities as caps;
use crate::protocol::ok_err::ErrPacket;
use crate::session::client_session::{Session, SessionEnd};
use crate::state::client::ClientState;

/// Character-set variables a reset keeps, as the server's own reset does.
const KEPT_BY_RESET: [&str; 4] = [
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
];

impl Session {
    /// COM_RESET_CONNECTION: the client's session starts over (same user and
    /// database). A pinned server connection is reset on the server too.
    pub(super) async fn reset_connection(&mut self) -> Result<(), SessionEnd> {
        let schema = self.state.schema.clone();
        let multi = self.capabilities & caps::MULTI_STATEMENTS != 0;
        let collation = crate::protocol::collation::DEFAULT;
        if self.state.pinned.is_some() || self.state.in_transaction {
            // The server connection carries state only this client knew about.
            if let Some(mut guard) = self.server.take() {
                self.kill.set_serving(None).await;
                self.listing.idle();
                let clears = self.state.pinned.is_none_or(|why| why.reset_clears());
                if !clears || guard.reset().await.is_err() {
                    guard.discard();
                }
            }
        }
        let charset = self.state.vars.clone();
        self.state = ClientState::new(schema, collation, multi);
        self.pinned_count = None;
        for key in KEPT_BY_RESET {
            if let Some(v) = charset.get(key) {
                self.state.vars.set(key, v);
            }
        }
        self.release_if_idle().await;
        self.send_ok().await
    }

    pub(super) async fn refuse_change_user(&mut self) -> Result<(), SessionEnd> {
        let err = ErrPacket::new(
            1235,
            "42000",
            "COM_CHANGE_USER is not supported by sluice: open a new connection",
        );
        self.send_err(1, err).await
    }
}
