//! Running one client command on a server connection: checkout, state sync,
//! statement-id mapping, relaying the response, then taking in what it changed.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::relay::{relay, RelayError, RelayOptions};
use super::sync::SyncError;
use super::{Session, SessionEnd};
use crate::metrics::count_error;
use crate::protocol::capabilities::{self as caps, status};
use crate::protocol::command::Command;
use crate::protocol::ok_err::ErrPacket;
use crate::protocol::packet;
use crate::protocol::response::Expect;
use crate::protocol::statement::{execute_opens_cursor, set_stmt_id, stmt_id, write_execute};
use crate::server::ServerStatement;
use crate::state::client::ClientStatement;

fn expect_for(cmd: Command) -> Expect {
    match cmd {
        Command::Query | Command::StmtExecute => Expect::Results,
        Command::StmtPrepare => Expect::Prepare,
        Command::StmtFetch => Expect::Rows,
        Command::FieldList => Expect::FieldList,
        _ => Expect::Single,
    }
}

/// ER_LOCK_DEADLOCK: the server has rolled back the whole transaction.
const DEADLOCK: u16 = 1213;

impl Session {
    pub(super) async fn forward(
        &mut self,
        cmd: Command,
        payload: BytesMut,
    ) -> Result<(), SessionEnd> {
        // What the command refers to, checked before a server connection is taken.
        let mut statement: Option<(u32, ClientStatement)> = None;
        match cmd {
            Command::Query => {
                if let Some(why) = super::pinning::pin_reason(&payload[1..]) {
                    self.pin(why);
                }
            }
            Command::StmtExecute
            | Command::StmtSendLongData
            | Command::StmtReset
            | Command::StmtFetch => {
                let id = stmt_id(&payload).unwrap_or(0);
                let Some(s) = self.state.statements.get(&id) else {
                    if cmd == Command::StmtSendLongData {
                        return Ok(());
                    }
                    // The server's words, with the name of its handler of the command.
                    let handler = match cmd {
                        Command::StmtReset => "mysqld_stmt_reset",
                        Command::StmtFetch => "mysqld_stmt_fetch",
                        _ => "mysqld_stmt_execute",
                    };
                    return self
                        .send_err(
                            1,
                            ErrPacket::new(
                                1243,
                                "HY000",
                                format!(
                                    "Unknown prepared statement handler ({id}) given to {handler}"
                                ),
                            ),
                        )
                        .await;
                };
                // What the command needs of it, without copying its parameter types.
                statement = Some((
                    id,
                    ClientStatement {
                        sql: s.sql.clone(),
                        params: s.params,
                        columns: s.columns,
                        types: None,
                    },
                ));
                if cmd == Command::StmtSendLongData {
                    self.pin("long data sent for a prepared statement");
                }
                if cmd == Command::StmtExecute && execute_opens_cursor(&payload) {
                    self.pin("cursor");
                }
                if cmd == Command::StmtReset && self.server.is_none() {
                    // Nothing of the statement lives on any server connection yet.
                    return self.send_ok().await;
                }
            }
            _ => {}
        }
        if let Err(err) = self.ensure_server().await {
            return self.send_err(1, err).await;
        }
        let sql = (cmd == Command::Query).then(|| &payload[1..]);
        if let Err(e) = self.sync(sql).await {
            return self.sync_failed(e).await;
        }

        // The packet for the server.
        let mut wire = std::mem::take(&mut self.wire);
        wire.clear();
        let mut prepare_id = None;
        match (cmd, &mut statement) {
            (Command::StmtPrepare, _) => {
                prepare_id = Some(self.state.next_statement_id());
                packet::write_packet(&mut wire, 0, &payload);
            }
            (Command::StmtExecute, Some((id, s))) => {
                let server = match self.server_statement(&s.sql).await {
                    Ok(st) => st,
                    Err(e) => return self.sync_failed(e).await,
                };
                // The types of the client's latest binding, kept and updated in place.
                let entry = self.state.statements.get_mut(id).expect("looked up above");
                if let Err(m) =
                    write_execute(&mut wire, &payload, server.id, s.params, &mut entry.types)
                {
                    return self
                        .send_err(
                            1,
                            ErrPacket::new(
                                1835,
                                "08S01",
                                format!("Malformed communication packet: {m}"),
                            ),
                        )
                        .await;
                }
            }
            (_, Some((_, s))) => {
                let server = match self.server_statement(&s.sql).await {
                    Ok(st) => st,
                    Err(e) => return self.sync_failed(e).await,
                };
                let mut p = payload.clone();
                set_stmt_id(&mut p, server.id);
                packet::write_packet(&mut wire, 0, &p);
            }
            _ => {
                packet::write_packet(&mut wire, 0, &payload);
            }
        }
        let conn = self.server.as_mut().expect("checked out");
        let written = conn.stream.write_all(&wire).await;
        self.wire = wire;
        if let Err(e) = written {
            return self.server_failed(e.to_string(), false).await;
        }
        if cmd.has_no_response() {
            return Ok(());
        }
        let opts = RelayOptions {
            session_track: self.capabilities & caps::SESSION_TRACK != 0,
            local_infile: self.capabilities & caps::LOCAL_FILES != 0
                && self.route.settings.local_infile,
            prepare_id,
            max_packet: self.fe.max_packet,
            client_write_timeout: self.fe.client_write_timeout,
        };
        let mut next_seq = 1;
        let result = relay(
            conn,
            &mut self.client,
            &mut self.client_buf,
            &mut self.out,
            expect_for(cmd),
            &opts,
            &mut next_seq,
        )
        .await;
        let tracker = match result {
            Ok((t, sent)) => {
                self.route.metrics.bytes_to_clients.increment(sent);
                t
            }
            Err(RelayError::Client(e)) => {
                // The response is half-read: the server connection cannot be reused.
                if let Some(g) = self.server.take() {
                    self.kill.set_serving(None).await;
                    g.discard();
                }
                return Err(SessionEnd::Client(e));
            }
            Err(RelayError::ClientRead(e)) => {
                if let Some(g) = self.server.take() {
                    self.kill.set_serving(None).await;
                    g.discard();
                }
                return Err(SessionEnd::Server(format!(
                    "client failed while sending a local file: {e}"
                )));
            }
            Err(e) => return self.server_failed_at(e.to_string(), true, next_seq).await,
        };

        // Take in what the response changed.
        let conn = self.server.as_mut().expect("checked out");
        conn.apply(&tracker);
        if let Some(why) = self.state.apply(&tracker.changes) {
            self.pin(why);
        }
        if let Some(id) = tracker.last_insert_id {
            self.state.last_insert_id = id;
        }
        if let (Some(client_id), Some(p)) = (prepare_id, tracker.prepared) {
            let sql: Arc<[u8]> = Arc::from(&payload[1..]);
            let stmt = ServerStatement {
                id: p.stmt_id,
                params: p.params,
                columns: p.columns,
            };
            let added = self.state.add_statement(ClientStatement {
                sql: sql.clone(),
                params: p.params,
                columns: p.columns,
                types: None,
            });
            debug_assert_eq!(added, client_id);
            if let Err(e) = self.remember_statement(sql, stmt).await {
                return self.sync_failed(e).await;
            }
        }
        if let Some(st) = tracker.status {
            self.state.in_transaction = st & status::IN_TRANS != 0;
            self.server_flags = st & status::SQL_MODE;
            if st & status::CURSOR_EXISTS != 0 {
                self.pin("cursor");
            }
        }
        if tracker.error.as_ref().is_some_and(|e| e.code == DEADLOCK) {
            // The server rolled the transaction back; an ERR carries no status to say so.
            self.state.in_transaction = false;
        }
        let m = &self.route.metrics;
        m.queries.increment(1);
        if !self.state.in_transaction {
            m.transactions.increment(1);
        }
        self.release_if_idle().await;
        Ok(())
    }

    /// Sluice could not prepare the server connection for the command.
    async fn sync_failed(&mut self, e: SyncError) -> Result<(), SessionEnd> {
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
    async fn server_failed(&mut self, why: String, mid_response: bool) -> Result<(), SessionEnd> {
        self.server_failed_at(why, mid_response, 1).await
    }

    /// As [`Self::server_failed`], the error taking sequence id `seq` (after the
    /// packets of a response already passed on).
    async fn server_failed_at(
        &mut self,
        why: String,
        mid_response: bool,
        seq: u8,
    ) -> Result<(), SessionEnd> {
        count_error("server_io");
        tracing::warn!(peer = %self.peer, route = %self.route.name, error = %why, "server connection failed");
        if let Some(g) = self.server.take() {
            self.kill.set_serving(None).await;
            g.discard();
        }
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
