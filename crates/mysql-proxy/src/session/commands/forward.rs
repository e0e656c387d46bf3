//! Running one client command on a server connection: checkout, state sync,
//! statement-id mapping, relaying the response, then taking in what it changed.

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::statements::Lookup;
use crate::members::Role;
use crate::protocol::capabilities::{self as caps, status};
use crate::protocol::command::Command;
use crate::protocol::handshake::Malformed;
use crate::protocol::ok_err::ErrPacket;
use crate::protocol::packet;
use crate::protocol::response::{Expect, ResponseTracker};
use crate::protocol::statement::{set_stmt_id, write_execute};
use crate::route::Access;
use crate::session::client_session::{Session, SessionEnd};
use crate::session::failure::Stage;
use crate::session::relay::{relay, RelayError, RelayOptions};
use crate::session::sync::SyncError;
use crate::state::client::ClientStatement;
use crate::state::pin::PinReason;

/// How many times one autocommit query follows a writable member that turned read-only.
const READ_ONLY_RETRIES: u8 = 3;

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

/// Why the command did not reach the server.
enum NotSent {
    /// Bringing the server connection in line failed.
    Sync(SyncError),
    /// The client's packet cannot be translated.
    Malformed(Malformed),
}

impl Session {
    /// Runs `cmd`; `reads_last_insert_id` when it is a query that reads
    /// `LAST_INSERT_ID()`, which is then set on the server connection first.
    pub(super) async fn forward(
        &mut self,
        cmd: Command,
        payload: BytesMut,
        reads_last_insert_id: bool,
    ) -> Result<(), SessionEnd> {
        // The query time runs from the first server connection it goes to (the wait for
        // one is the checkout wait's) to its last reply, a retry on another included.
        let mut started = None;
        // What the command refers to, checked before a server connection is taken.
        let statement = match cmd {
            Command::StmtExecute
            | Command::StmtSendLongData
            | Command::StmtReset
            | Command::StmtFetch => match self.statement_for(cmd, &payload).await? {
                Lookup::Found(id, s) => Some((id, s)),
                Lookup::Answered => return Ok(()),
            },
            _ => None,
        };
        // A switchover under way: the member believed writable refuses a write with
        // 1290 (read-only) before the member checks see it. An autocommit query or
        // prepared statement execution that was refused so did not run: it goes again
        // to the next writable member.
        let mut read_only_retries = READ_ONLY_RETRIES;
        loop {
            let withhold_read_only = matches!(cmd, Command::Query | Command::StmtExecute)
                && self.access == Access::ReadWrite
                && read_only_retries > 0
                && !self.state.in_transaction
                && self.state.pinned.is_none();
            if let Err(err) = self.ensure_server().await {
                return self.send_err(1, err).await;
            }
            let since = *started.get_or_insert_with(std::time::Instant::now);
            if let Err(e) = self.sync(reads_last_insert_id).await {
                return self.sync_failed(e, cmd, &payload).await;
            }
            let prepare_id = (cmd == Command::StmtPrepare).then(|| self.state.next_statement_id());
            let mut wire = std::mem::take(&mut self.wire);
            wire.clear();
            let encoded = self
                .encode_for_server(&mut wire, cmd, &payload, statement.as_ref())
                .await;
            let written = match encoded {
                Ok(()) => {
                    let conn = self.server.as_mut().expect("checked out");
                    conn.stream.write_all(&wire).await
                }
                Err(NotSent::Sync(e)) => {
                    self.wire = wire;
                    return self.sync_failed(e, cmd, &payload).await;
                }
                Err(NotSent::Malformed(m)) => {
                    self.wire = wire;
                    let message = format!("Malformed communication packet: {m}");
                    return self
                        .send_err(1, ErrPacket::new(1835, "08S01", message))
                        .await;
                }
            };
            self.wire = wire;
            if let Err(e) = written {
                return self
                    .server_failed(e.to_string(), Stage::NotSent, cmd, &payload)
                    .await;
            }
            if cmd.has_no_response() {
                return Ok(());
            }
            let Some(tracker) = self
                .relay_response(cmd, &payload, prepare_id, withhold_read_only)
                .await?
            else {
                return Ok(());
            };
            if withhold_read_only
                && tracker
                    .error
                    .as_ref()
                    .is_some_and(ErrPacket::is_read_only_refusal)
            {
                let member = self.server.as_ref().expect("checked out").member;
                tracing::info!(route = %self.route.name, member = %self.route.cluster.endpoints[member],
                "the writable member turned read-only; the query goes to the next writable member");
                self.route.cluster.set_role(member, Role::Readable);
                self.release_now().await;
                read_only_retries -= 1;
                continue;
            }
            self.route
                .metrics
                .query_time
                .record(since.elapsed().as_secs_f64());
            return self.take_in(tracker, prepare_id, &payload).await;
        }
    }

    /// The packet for the server: the client's, with the server connection's
    /// statement id in place of the client's.
    async fn encode_for_server(
        &mut self,
        wire: &mut BytesMut,
        cmd: Command,
        payload: &[u8],
        statement: Option<&(u32, ClientStatement)>,
    ) -> Result<(), NotSent> {
        let Some((id, s)) = statement else {
            packet::write_packet(wire, 0, payload);
            return Ok(());
        };
        let server = self.server_statement(&s.sql).await.map_err(NotSent::Sync)?;
        if cmd == Command::StmtExecute {
            // The types of the client's latest binding, kept and updated in place.
            let entry = self.state.statements.get_mut(id).expect("looked up");
            return write_execute(wire, payload, server.id, s.params, &mut entry.types)
                .map_err(NotSent::Malformed);
        }
        let mut p = BytesMut::from(payload);
        set_stmt_id(&mut p, server.id);
        packet::write_packet(wire, 0, &p);
        Ok(())
    }

    /// Passes the server's response to the client. `None` when the server connection
    /// failed and the client has been told (its session goes on).
    async fn relay_response(
        &mut self,
        cmd: Command,
        payload: &[u8],
        prepare_id: Option<u32>,
        withhold_read_only: bool,
    ) -> Result<Option<ResponseTracker>, SessionEnd> {
        let opts = RelayOptions {
            withhold_read_only,
            session_track: self.capabilities & caps::SESSION_TRACK != 0,
            local_infile: self.capabilities & caps::LOCAL_FILES != 0
                && self.route.settings.local_infile,
            prepare_id,
            max_packet: self.fe.max_packet,
            client_write_timeout: self.fe.client_write_timeout,
        };
        let mut next_seq = 1;
        let conn = self.server.as_mut().expect("checked out");
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
        match result {
            Ok((tracker, sent)) => {
                self.route.metrics.bytes_to_clients.increment(sent);
                Ok(Some(tracker))
            }
            Err(RelayError::Client(e)) => {
                // The response is half-read: the server connection cannot be reused.
                self.discard_server().await;
                Err(SessionEnd::Client(e))
            }
            Err(RelayError::ClientRead(e)) => {
                self.discard_server().await;
                Err(SessionEnd::Server(format!(
                    "client failed while sending a local file: {e}"
                )))
            }
            Err(e) => {
                let stage = Stage::Sent { seq: next_seq };
                self.server_failed(e.to_string(), stage, cmd, payload)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Takes in what the response changed: session state, statement ids, the
    /// transaction status; then gives the server connection back when it can.
    async fn take_in(
        &mut self,
        tracker: ResponseTracker,
        prepare_id: Option<u32>,
        payload: &[u8],
    ) -> Result<(), SessionEnd> {
        let conn = self.server.as_mut().expect("checked out");
        conn.apply(&tracker);
        if let Some(why) = self.state.apply(&tracker.changes) {
            self.pin(why);
        }
        if let Some(id) = tracker.last_insert_id {
            self.state.last_insert_id = id;
        }
        if let (Some(client_id), Some(p)) = (prepare_id, tracker.prepared) {
            if let Err(e) = self.record_prepared(client_id, p, &payload[1..]).await {
                // The client has its answer: the connection failed closing a statement
                // the new one evicted.
                return self.server_gone_between_commands(e.to_string()).await;
            }
        }
        if let Some(st) = tracker.status {
            self.state.in_transaction = st & status::IN_TRANS != 0;
            self.server_flags = st & status::SQL_MODE;
            if st & status::CURSOR_EXISTS != 0 {
                self.pin(PinReason::Cursor);
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
}
