//! Bringing a server connection in line with the client about to use it: default
//! database, session variables (character set included), multi-statement option,
//! LAST_INSERT_ID() when the statement reads it, and the prepared statements it
//! executes.

use std::sync::Arc;

use super::client_session::Session;
use crate::protocol::command::Command;
use crate::protocol::ok_err::ErrPacket;
use crate::protocol::response::Expect;
use crate::server::{ServerError, ServerStatement};

/// Why the client's command cannot run.
#[derive(Debug, thiserror::Error)]
pub(super) enum SyncError {
    /// The server refused what sluice replayed: the client gets this error instead.
    #[error("the server refused what sluice replayed: {0}")]
    Refused(ErrPacket),
    /// The server connection failed.
    #[error(transparent)]
    Server(ServerError),
}

impl From<ServerError> for SyncError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Rejected(err) => SyncError::Refused(err),
            other => SyncError::Server(other),
        }
    }
}

impl Session {
    pub(super) async fn sync(&mut self, reads_last_insert_id: bool) -> Result<(), SyncError> {
        let conn = self.server.as_mut().expect("checked out");
        if let Some(schema) = &self.state.schema {
            if conn.schema.as_deref() != Some(schema.as_str()) {
                let mut payload = vec![Command::InitDb.byte()];
                payload.extend_from_slice(schema.as_bytes());
                let t = conn.command(&payload, Expect::Single).await?;
                if let Some(err) = t.error {
                    return Err(SyncError::Refused(err));
                }
                conn.schema = Some(schema.clone());
            }
        }
        if let Some(set) = self.state.vars.statement_from(&conn.vars) {
            conn.execute(&set).await?;
            // Defaults the server reported for reset variables are not the client's
            // doing: the connection now has exactly the client's variables.
            conn.vars = self.state.vars.clone();
        }
        if conn.multi_statements != self.state.multi_statements {
            let option: u16 = if self.state.multi_statements { 0 } else { 1 };
            let mut payload = vec![Command::SetOption.byte()];
            payload.extend_from_slice(&option.to_le_bytes());
            let t = conn.command(&payload, Expect::Single).await?;
            if let Some(err) = t.error {
                return Err(SyncError::Refused(err));
            }
            conn.multi_statements = self.state.multi_statements;
        }
        if reads_last_insert_id && conn.last_insert_id != self.state.last_insert_id {
            conn.execute(&format!(
                "SET SESSION last_insert_id = {}",
                self.state.last_insert_id
            ))
            .await?;
            conn.last_insert_id = self.state.last_insert_id;
        }
        Ok(())
    }

    /// The server connection's id for a statement, preparing it there first when it
    /// has never seen it.
    pub(super) async fn server_statement(
        &mut self,
        sql: &Arc<[u8]>,
    ) -> Result<ServerStatement, SyncError> {
        let conn = self.server.as_mut().expect("checked out");
        if let Some(s) = conn.statements.get(sql) {
            return Ok(s);
        }
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(Command::StmtPrepare.byte());
        payload.extend_from_slice(sql);
        let t = conn.command(&payload, Expect::Prepare).await?;
        if let Some(err) = t.error {
            return Err(SyncError::Refused(err));
        }
        let p = t.prepared.ok_or(SyncError::Server(ServerError::Protocol(
            "PREPARE without PREPARE_OK",
        )))?;
        let stmt = ServerStatement {
            id: p.stmt_id,
            params: p.params,
            columns: p.columns,
        };
        self.remember_statement(sql.clone(), stmt).await?;
        Ok(stmt)
    }

    /// Records a statement prepared on the server connection, closing any it evicts.
    pub(super) async fn remember_statement(
        &mut self,
        sql: Arc<[u8]>,
        stmt: ServerStatement,
    ) -> Result<(), SyncError> {
        let conn = self.server.as_mut().expect("checked out");
        for old in conn.statements.insert(sql, stmt) {
            let mut close = vec![Command::StmtClose.byte()];
            close.extend_from_slice(&old.to_le_bytes());
            conn.command(&close, Expect::Single).await?;
        }
        Ok(())
    }
}
