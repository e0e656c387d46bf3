//! A transaction whose server connection was lost: the member stopped or failed over,
//! or the connection was killed. MySQL would end the client's connection; in
//! transaction mode nothing else of an unpinned client's session lives on that server
//! (sluice replays its variables, default database and prepared statements), so the
//! session stays and only the transaction fails. Its next transaction runs on a new
//! server connection of whichever member is writable then, held while there is none.
//!
//! MySQL, unlike PostgreSQL, does not abort a transaction after an error: the next
//! statement runs in it. Here the transaction's work is gone, and a statement let
//! through would run in autocommit behind the client's back. So every statement fails
//! from the loss until the client ends the transaction: the first with the loss, the
//! next ones with "statements fail until ROLLBACK or COMMIT". `ROLLBACK` ends it with
//! OK. `COMMIT` ends it too: sent before the client heard of the loss it fails (its
//! work was not committed), after it succeeds, as after a deadlock, which also leaves
//! a client that was told its work is gone. Statements that would commit implicitly
//! (`BEGIN`, DDL, `SET autocommit = 1`) fail like the others, as the commit they imply
//! cannot happen. `COM_RESET_CONNECTION` and leaving end it as well.
//!
//! The loss is error 1158 (ER_NET_READ_ERROR, SQLSTATE 08S01), which sluice already
//! sends for a server connection lost under a query: a server code (client libraries
//! take 2xxx codes in an ERR packet for a malformed packet) that drivers raise as a
//! failed statement on a connection that stays open. Not 1053 (server shutdown),
//! 1927 (connection killed) or 4031 (disconnected for inactivity), which say the
//! client's own connection is ending; not 1213 or 1205 (deadlock, lock wait), which
//! frameworks retry on their own, wrongly so after an autocommit statement of unknown
//! outcome and with a false reason; not 1317 (query interrupted, 70100), which drivers
//! raise as a cancellation or timeout the application asked for. Statements after it
//! get 1179 (ER_CANT_DO_THIS_DURING_AN_TRANSACTION, SQLSTATE 25000, invalid
//! transaction state), as PostgreSQL's failed transaction answers with class 25.

use tokio::io::AsyncReadExt;

use super::client_session::{ServerGuard, Session, SessionEnd};
use crate::protocol::command::Command;
use crate::protocol::ok_err::ErrPacket;
use crate::protocol::packet::{Header, HEADER_LEN};
use crate::protocol::statement::stmt_id;
use crate::route::PoolMode;
use crate::server::ServerConn;
use crate::sql::classify::{classify, Verdict};
use crate::sql::transaction::{effect, TxEffect};
use crate::state::client::LostTransaction;

/// ER_NET_READ_ERROR: the server connection was lost (see the module header).
pub(super) const LOST_CODE: u16 = 1158;
const LOST: &str = "the server connection of this transaction was lost (the database server \
     stopped or failed over); the transaction was rolled back";
const STILL_LOST: &str = "the transaction was rolled back when its server connection was lost; \
     statements fail until ROLLBACK or COMMIT ends it";
const COMMIT_UNKNOWN: &str = "the server connection was lost during COMMIT (the database server \
     stopped or failed over): whether the transaction was committed is unknown";
const MAY_HAVE_COMMITTED: &str = "the server connection of this transaction was lost (the \
     database server stopped or failed over) during a statement that may commit implicitly: \
     whether the transaction was committed is unknown";

fn lost(message: &str) -> ErrPacket {
    ErrPacket::new(LOST_CODE, "08S01", message)
}

/// Resolves when the server connection held between commands speaks or closes, with
/// how. A server says nothing unprompted but that it is closing the connection (an
/// ERR such as 1053 shutdown or 4031 inactivity), so either way it is gone. Never
/// resolves without a connection.
pub(super) async fn server_gone(server: Option<&mut ServerGuard>) -> String {
    let Some(guard) = server else {
        return std::future::pending().await;
    };
    let conn: &mut ServerConn = guard;
    conn.read_buf.reserve(512);
    match conn.stream.read_buf(&mut conn.read_buf).await {
        Ok(0) => "the server closed the connection".into(),
        Err(e) => format!("the server connection failed: {e}"),
        Ok(_) => unprompted(&conn.read_buf),
    }
}

/// What a server sent unprompted, for the log.
fn unprompted(buf: &[u8]) -> String {
    let err = Header::parse(buf)
        .and_then(|h| buf.get(HEADER_LEN..HEADER_LEN + h.len))
        .and_then(ErrPacket::parse);
    match err {
        Some(err) => format!("the server sent {err}"),
        None => "the server sent data unprompted".into(),
    }
}

impl Session {
    /// Whether losing the server connection now costs only the transaction:
    /// transaction mode, nothing of the session tied to that server, inside a
    /// transaction.
    pub(super) fn can_lose_only_the_transaction(&self) -> bool {
        self.route.settings.mode == PoolMode::Transaction
            && self.state.pinned.is_none()
            && self.state.in_transaction
    }

    /// The server connection went away between commands. The session goes on without
    /// it unless something of the session lived there (pinned, session mode): then it
    /// ends, as a direct connection would, and the client finds out at its next command.
    pub(super) async fn server_gone_between_commands(
        &mut self,
        why: String,
    ) -> Result<(), SessionEnd> {
        self.route.metrics.count_lost_server();
        let only_the_transaction = self.can_lose_only_the_transaction();
        self.discard_server().await;
        if only_the_transaction {
            tracing::info!(peer = %self.peer, route = %self.route.name, user = %self.user, reason = %why,
                "server connection lost under an open transaction; the client keeps its session");
            self.state.lost_transaction = Some(LostTransaction::Untold);
            return Ok(());
        }
        let session_bound = self.state.in_transaction
            || self.state.pinned.is_some()
            || self.route.settings.mode == PoolMode::Session;
        if session_bound {
            return Err(SessionEnd::Server(why));
        }
        Ok(())
    }

    /// The server connection failed under a command inside a transaction, for a
    /// client that keeps its session (`sent`: the command had reached the server).
    /// Returns the error the client gets, `None` for OK: a lost `ROLLBACK` still
    /// rolled back.
    pub(super) fn lose_transaction_during(
        &mut self,
        cmd: Command,
        payload: &[u8],
        sent: bool,
    ) -> Option<ErrPacket> {
        tracing::info!(peer = %self.peer, route = %self.route.name, user = %self.user,
            "server connection lost during a command inside a transaction; the client keeps its session");
        let effect = self.effect_of(cmd, payload).unwrap_or(TxEffect::MayEnd);
        let (ended, err) = match effect {
            TxEffect::Rollback => (true, None),
            TxEffect::Commit if sent => (true, Some(lost(COMMIT_UNKNOWN))),
            // It never reached the server: nothing was committed.
            TxEffect::Commit => (true, Some(lost(LOST))),
            TxEffect::MayEnd if sent => (false, Some(lost(MAY_HAVE_COMMITTED))),
            TxEffect::MayEnd | TxEffect::Within => (false, Some(lost(LOST))),
        };
        if ended {
            self.end_lost_transaction();
        } else {
            self.state.lost_transaction = Some(LostTransaction::Told);
        }
        err
    }

    /// Answers a command while the client's transaction is lost. False when the
    /// command is served as usual: it needs no server connection (ping, options,
    /// `KILL`, reset, quit) or names an unknown statement.
    pub(super) async fn answer_lost_transaction(
        &mut self,
        cmd: Command,
        payload: &[u8],
    ) -> Result<bool, SessionEnd> {
        let Some(lost_tx) = self.state.lost_transaction else {
            return Ok(false);
        };
        let effect = match cmd {
            Command::Query if matches!(classify(&payload[1..]).verdict, Verdict::Kill { .. }) => {
                return Ok(false)
            }
            Command::Query | Command::StmtExecute => match self.effect_of(cmd, payload) {
                Some(e) => e,
                None => return Ok(false),
            },
            // Data for an execution that will fail; it gets no reply.
            Command::StmtSendLongData => return Ok(true),
            Command::StmtPrepare
            | Command::StmtFetch
            | Command::InitDb
            | Command::FieldList
            | Command::Statistics => TxEffect::Within,
            _ => return Ok(false),
        };
        match (effect, lost_tx) {
            (TxEffect::Rollback, _) | (TxEffect::Commit, LostTransaction::Told) => {
                self.end_lost_transaction();
                self.send_ok().await?;
            }
            (TxEffect::Commit, LostTransaction::Untold) => {
                self.end_lost_transaction();
                self.send_err(1, lost(LOST)).await?;
            }
            (_, LostTransaction::Untold) => {
                self.state.lost_transaction = Some(LostTransaction::Told);
                self.send_err(1, lost(LOST)).await?;
            }
            (_, LostTransaction::Told) => {
                let err = ErrPacket::new(1179, "25000", STILL_LOST);
                self.send_err(1, err).await?;
            }
        }
        Ok(true)
    }

    /// What a query or prepared-statement execution does to the transaction; `None`
    /// for an execution of a statement the client does not have.
    fn effect_of(&self, cmd: Command, payload: &[u8]) -> Option<TxEffect> {
        match cmd {
            Command::Query => Some(effect(&payload[1..])),
            Command::StmtExecute => {
                let s = self.state.statements.get(&stmt_id(payload)?)?;
                Some(effect(&s.sql))
            }
            _ => Some(TxEffect::Within),
        }
    }

    fn end_lost_transaction(&mut self) {
        self.state.lost_transaction = None;
        self.state.in_transaction = false;
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    #[test]
    fn an_unprompted_error_is_named() {
        let mut buf = BytesMut::new();
        ErrPacket::new(1053, "08S01", "Server shutdown in progress").encode(&mut buf, 0);
        assert_eq!(
            unprompted(&buf),
            "the server sent ERROR 1053 (08S01): Server shutdown in progress"
        );
        assert_eq!(unprompted(&[1, 0]), "the server sent data unprompted");
    }
}
