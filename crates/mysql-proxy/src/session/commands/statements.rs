//! Prepared statements under the ids sluice gave the client: preparing one (within the
//! route's bound on open statements per client), closing one, looking one up before a
//! command that names it goes to a server, and recording one the server has just
//! prepared.

use std::sync::Arc;

use bytes::BytesMut;

use crate::protocol::command::Command;
use crate::protocol::ok_err::ErrPacket;
use crate::protocol::statement::{execute_opens_cursor, stmt_id, PrepareOk};
use crate::server::ServerStatement;
use crate::session::client_session::{Session, SessionEnd};
use crate::session::sync::SyncError;
use crate::sql::classify::{classify, Verdict};
use crate::state::client::ClientStatement;
use crate::state::pin::{PinReason, Refusal};

/// A command that names a prepared statement, after the look-up.
pub(super) enum Lookup {
    /// The command goes to a server with the statement's id and what it needs of it.
    Found(u32, ClientStatement),
    /// sluice has answered the command itself (or it needs no answer).
    Answered,
}

/// ER_MAX_PREPARED_STMT_COUNT_REACHED, as the server words it.
fn too_many_statements(limit: usize) -> ErrPacket {
    ErrPacket::new(
        1461,
        "42000",
        format!(
            "Can't create more than max_prepared_stmt_count statements (current value: {limit})"
        ),
    )
}

impl Session {
    /// COM_STMT_PREPARE: refused when the client already holds the route's limit of
    /// open statements, or when its text is a KILL (its id would only be bound at
    /// execution, past sluice); otherwise prepared on a server connection.
    pub(super) async fn prepare(&mut self, payload: BytesMut) -> Result<(), SessionEnd> {
        let limit = self.route.settings.max_prepared_statements;
        if self.state.statements.len() >= limit {
            tracing::debug!(peer = %self.peer, route = %self.route.name, limit, "prepared statement limit reached");
            return self.send_err(1, too_many_statements(limit)).await;
        }
        match classify(&payload[1..]).verdict {
            Verdict::Refuse(r) => return self.refuse(r).await,
            Verdict::Kill { .. } => return self.refuse(Refusal::KillPrepared).await,
            Verdict::Harmless | Verdict::Pin(_) => {}
        }
        self.forward(Command::StmtPrepare, payload, false).await
    }

    /// COM_STMT_CLOSE: forgotten by the client's session; the server connections keep
    /// their copy for the next client that prepares the same text.
    pub(super) fn close_statement(&mut self, payload: &[u8]) {
        if let Some(id) = stmt_id(payload) {
            self.state.statements.remove(&id);
        }
    }

    /// The statement a COM_STMT_EXECUTE, _SEND_LONG_DATA, _RESET or _FETCH names,
    /// checked before a server connection is taken; pins the client for a cursor or
    /// long data.
    pub(super) async fn statement_for(
        &mut self,
        cmd: Command,
        payload: &[u8],
    ) -> Result<Lookup, SessionEnd> {
        let id = stmt_id(payload).unwrap_or(0);
        let Some(s) = self.state.statements.get(&id) else {
            if cmd == Command::StmtSendLongData {
                return Ok(Lookup::Answered);
            }
            // The server's words, with the name of its handler of the command.
            let handler = match cmd {
                Command::StmtReset => "mysqld_stmt_reset",
                Command::StmtFetch => "mysqld_stmt_fetch",
                _ => "mysqld_stmt_execute",
            };
            let message = format!("Unknown prepared statement handler ({id}) given to {handler}");
            self.send_err(1, ErrPacket::new(1243, "HY000", message))
                .await?;
            return Ok(Lookup::Answered);
        };
        // What the command needs of it, without copying its parameter types.
        let statement = ClientStatement {
            sql: s.sql.clone(),
            params: s.params,
            columns: s.columns,
            types: None,
            pin: s.pin,
        };
        if cmd == Command::StmtSendLongData {
            self.pin(PinReason::LongData);
        }
        if cmd == Command::StmtExecute {
            if let Some(why) = statement.pin {
                self.pin(why);
            }
            if execute_opens_cursor(payload) {
                self.pin(PinReason::Cursor);
            }
        }
        if cmd == Command::StmtReset && self.server.is_none() {
            // Nothing of the statement lives on any server connection yet.
            self.send_ok().await?;
            return Ok(Lookup::Answered);
        }
        Ok(Lookup::Found(id, statement))
    }

    /// A COM_STMT_PREPARE the server accepted: the client's session gets it under
    /// `client_id`, the server connection under the server's id.
    pub(super) async fn record_prepared(
        &mut self,
        client_id: u32,
        prepared: PrepareOk,
        sql: &[u8],
    ) -> Result<(), SyncError> {
        let sql: Arc<[u8]> = Arc::from(sql);
        let stmt = ServerStatement {
            id: prepared.stmt_id,
            params: prepared.params,
            columns: prepared.columns,
        };
        // Executing it has the effects its text would have as a query.
        let pin = match classify(&sql).verdict {
            Verdict::Pin(why) => Some(why),
            _ => None,
        };
        let added = self.state.add_statement(ClientStatement {
            sql: sql.clone(),
            params: prepared.params,
            columns: prepared.columns,
            types: None,
            pin,
        });
        debug_assert_eq!(added, client_id);
        self.remember_statement(sql, stmt).await
    }
}
