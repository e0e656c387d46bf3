//! What a client's session does when its server connection goes away under it (the
//! primary stopped, failed over, or the link broke). A direct PostgreSQL client would
//! lose its connection; in transaction mode nothing of the session lives on the server
//! except the transaction under way, so the session goes on:
//!
//! - a request between transactions that provably did not run is sent again on the
//!   next server (`resend.rs`): the client sees no error at all;
//! - a client idle inside a transaction loses only the transaction
//!   (`lost_transaction.rs`);
//! - requests in flight get an error each (with ReadyForQuery, in failed-transaction
//!   state inside a transaction, so that the client's ROLLBACK succeeds); outside a
//!   transaction the error says whether the request ran is unknown.
//!
//! A pinned client, session mode, and a server gone in the middle of a message or a
//! COPY still end the session, as a direct connection would.

use super::attached::{Attached, Gone, ServerHealth};
use super::error::SessionError;
use super::lost_transaction::LostTransaction;
use super::pipeline::Expect;
use super::relay::Relay;
use super::view_change::Undone;
use crate::protocol::backend::{self, Severity};
use crate::protocol::tags::TxStatus;
use crate::route::PoolMode;

const IN_TRANSACTION: &str = "the server connection was lost while this transaction ran (the database server stopped or failed over); the transaction was rolled back, unless this request was its COMMIT, whose outcome is unknown";
const OUTSIDE_TRANSACTION: &str = "the server connection was lost before this request completed (the database server stopped or failed over); whether it ran is unknown";

impl Relay {
    /// The attached server went away. Returns true when the session outlives it: the
    /// server is then marked lost, and what the client is owed is answered or its
    /// request is due to be sent again. False: the session ends as a direct one would.
    pub(super) fn outlive_server(&mut self, server: &mut Attached, how: Gone) -> bool {
        let movable = self.route.settings.mode == PoolMode::Transaction
            && self.view.pinned.is_none()
            && self.client.passthrough == 0
            && server.passthrough == 0
            && !server.copy_in;
        if !movable {
            return false;
        }
        if how != Gone::Closed && self.resend.make_due() {
            tracing::info!(route = %self.route.name, user = %self.info.user, attempt = self.resend.attempts(), "server went away before it answered; the request goes to the next server");
        } else if !self.pipeline.batch_is_closed() {
            // The client has not ended its batch: the Sync it still sends would need
            // an answer in the server's state.
            return false;
        } else if !self.pipeline.is_empty() {
            self.fail_in_flight();
        } else if self.view.tx_status != TxStatus::Idle {
            self.lose_transaction();
        }
        // Else the server went just as the client was answered: nothing is owed.
        self.route.metrics.count_lost_server();
        server.health = ServerHealth::Lost;
        true
    }

    /// Lets go of a server [`outlive_server`](Self::outlive_server) marked lost, then
    /// sends the client what it is owed, or puts its request back for the next server.
    pub(super) async fn after_lost_server(&mut self, server: Attached) -> Result<(), SessionError> {
        let addr = server.conn.cancel.addr;
        self.release(server).await;
        // The cluster's watcher looks at once at who is primary now.
        self.route.cluster().check_soon();
        if !self.resend.is_due() {
            return self.flush_client().await;
        }
        if self.route.still_serves(addr).await {
            // Only this server connection was ended (pg_terminate_backend) and the server
            // goes on: the request is not run again behind the administrator's back,
            // and the client hears of it as a direct one would.
            tracing::info!(route = %self.route.name, user = %self.info.user, "server connection terminated by the server's administrator; session ended");
            self.send_fatal(
                "57P01",
                "terminating connection due to administrator command",
            )
            .await;
            return Err(SessionError::Closed("server connection terminated"));
        }
        // The server stops: none of its idle connections is handed out again.
        let closed = self.route.pool.retain_idle(|c| c.cancel.addr != addr);
        self.route.metrics.count_lost_servers(closed as u64);
        self.take_back_request();
        Ok(())
    }

    /// Answers every request in flight with the error (each batch its own, and its
    /// ReadyForQuery) and undoes what translating them changed. Replies already held
    /// for the client go first: their requests did complete.
    fn fail_in_flight(&mut self) {
        tracing::info!(route = %self.route.name, user = %self.info.user, in_flight = self.pipeline.len(), "server lost with requests in flight; the client keeps its session");
        self.resend.shut();
        let in_transaction = self.view.tx_status != TxStatus::Idle;
        let (message, status) = if in_transaction {
            self.view.lost_transaction = Some(LostTransaction::Told);
            self.view.unnamed_ends = Default::default();
            (IN_TRANSACTION, TxStatus::Failed)
        } else {
            (OUTSIDE_TRANSACTION, TxStatus::Idle)
        };
        let out = &mut self.client.output;
        let mut errored = false;
        let mut changes = Vec::new();
        for e in self.pipeline.take_all() {
            let fails = !matches!(e, Expect::Internal { .. } | Expect::CopyEnd);
            if fails && !errored {
                backend::error_response(out, Severity::Error, "08006", message);
                errored = true;
            }
            if e.ends_batch() {
                backend::ready_for_query(out, status);
                errored = false;
            }
            changes.push(e.into_change());
        }
        for change in changes.into_iter().rev() {
            self.view.revert(change, Undone::Discarded);
        }
        self.view.tx_status = status;
        self.view.pending_commands.clear();
        self.view.portals.end_of_transaction();
    }

    /// Puts the client's request back, as it was before it was translated, for the
    /// next server: what translating it changed is undone and the replies held for
    /// it are dropped.
    pub(super) fn take_back_request(&mut self) {
        let (mut request, confirmed) = self.resend.take_due();
        let queued: Vec<_> = self.pipeline.take_all().into_iter().collect();
        for e in queued.into_iter().rev() {
            self.view.revert(e.into_change(), Undone::Discarded);
        }
        for change in confirmed.into_iter().rev() {
            self.view.revert(change, Undone::Discarded);
        }
        // It began between transactions, with nothing owed.
        self.pipeline = Default::default();
        self.view.tx_status = TxStatus::Idle;
        self.view.pending_commands.clear();
        self.view.portals.end_of_transaction();
        self.client.output.clear();
        self.server_out.clear();
        request.extend_from_slice(&self.client.input);
        self.client.input = request;
    }
}
