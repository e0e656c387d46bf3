//! Prepared statements under the ids sluice gave the client: closing one, looking one
//! up before a command that names it goes to a server, and recording one the server
//! has just prepared.

use std::sync::Arc;

use crate::protocol::command::Command;
use crate::protocol::ok_err::ErrPacket;
use crate::protocol::statement::{execute_opens_cursor, stmt_id, PrepareOk};
use crate::server::ServerStatement;
use crate::session::client_session::{Session, SessionEnd};
use crate::session::sync::SyncError;
use crate::state::client::ClientStatement;

/// A command that names a prepared statement, after the look-up.
pub(super) enum Lookup {
    /// The command goes to a server with the statement's id and what it needs of it.
    Found(u32, ClientStatement),
    /// sluice has answered the command itself (or it needs no answer).
    Answered,
}

impl Session {
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
        };
        if cmd == Command::StmtSendLongData {
            self.pin("long data sent for a prepared statement");
        }
        if cmd == Command::StmtExecute && execute_opens_cursor(payload) {
            self.pin("cursor");
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
        let added = self.state.add_statement(ClientStatement {
            sql: sql.clone(),
            params: prepared.params,
            columns: prepared.columns,
            types: None,
        });
        debug_assert_eq!(added, client_id);
        self.remember_statement(sql, stmt).await
    }
}
