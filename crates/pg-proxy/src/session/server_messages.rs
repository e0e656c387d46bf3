//! Relaying the server's messages to the client, matched against the pipeline: replies
//! to sluice's own requests are hidden, errors unwind the pipeline as PostgreSQL does,
//! and ReadyForQuery carries the transaction status that decides when to release.

use std::sync::Arc;

use super::attached::{Attached, Gone, ServerHealth};
use super::error::{SessionError, SERVER_MESSAGE_LIMIT};
use super::pipeline::Expect;
use super::relay::Relay;
use super::view_change::Undone;
use crate::protocol::backend::{self, Severity};
use crate::protocol::error_fields::ErrorFields;
use crate::protocol::frame::{parse_header, HEADER_LEN};
use crate::protocol::tags::{backend as tag, TxStatus};
use crate::state::settings::{SessionCommand, Settings};
use crate::state::statements::changes_schema;

impl Relay {
    /// Relays every complete (or streamable) server message buffered.
    pub(super) fn process_server_input(
        &mut self,
        server: &mut Attached,
    ) -> Result<(), SessionError> {
        loop {
            if server.passthrough > 0 {
                let n = server.passthrough.min(server.conn.read_buf.len());
                if n == 0 {
                    break;
                }
                self.client
                    .output
                    .extend_from_slice(&server.conn.read_buf.split_to(n));
                server.passthrough -= n;
                continue;
            }
            let header = match parse_header(&server.conn.read_buf, SERVER_MESSAGE_LIMIT) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(server.protocol_error(e.to_string())),
            };
            if server.conn.read_buf.len() < header.frame_len() {
                let streamable = header.tag == tag::DATA_ROW || header.tag == tag::COPY_DATA;
                let swallowing = matches!(self.pipeline.head(), Some(Expect::Internal { .. }));
                if streamable && !swallowing {
                    // Stream large rows instead of buffering them whole.
                    let n = server.conn.read_buf.len();
                    self.client
                        .output
                        .extend_from_slice(&server.conn.read_buf.split_to(n));
                    server.passthrough = header.frame_len() - n;
                }
                break;
            }
            let frame = server.conn.read_buf.split_to(header.frame_len());
            self.on_server_message(server, header.tag, &frame)?;
            if server.health == ServerHealth::Lost {
                // Nothing follows a server's FATAL.
                server.conn.read_buf.clear();
                break;
            }
            self.emit_local_replies();
        }
        Ok(())
    }

    /// Replies to sluice's own settings query are not shown to the client.
    fn swallowing(&self) -> bool {
        matches!(self.pipeline.head(), Some(Expect::Internal { .. }))
    }

    fn unexpected(&self, server: &mut Attached, t: u8) -> SessionError {
        let head = format!("{:?}", self.pipeline.head());
        server.protocol_error(format!(
            "unexpected message {:?} while expecting {head}",
            t as char
        ))
    }

    fn on_server_message(
        &mut self,
        server: &mut Attached,
        t: u8,
        frame: &[u8],
    ) -> Result<(), SessionError> {
        let body = &frame[HEADER_LEN..];
        tracing::trace!(tag = %(t as char), len = frame.len(), head = ?self.pipeline.head(), "server message");
        let mut forward = !self.swallowing();
        if forward && self.resend.is_open() && shows_outcome(t) {
            self.resend.shut();
        }
        match t {
            tag::COPY_IN_RESPONSE => {
                if !self.pipeline.enter_copy_in() {
                    server.copy_in = true;
                }
            }
            tag::DATA_ROW
            | tag::COPY_DATA
            | tag::COPY_DONE
            | tag::COPY_OUT_RESPONSE
            | tag::COPY_BOTH_RESPONSE
            | tag::NOTICE_RESPONSE
            | tag::PARAMETER_DESCRIPTION
            | tag::FUNCTION_CALL_RESPONSE => {}
            tag::NOTIFICATION_RESPONSE => {
                // A transaction-mode client was told a process id of sluice's making:
                // what its own server connection sent (its own NOTIFY while pinned by
                // LISTEN) comes from that id, so a listener can tell its own
                // notifications apart. In session mode the two ids are the same. Also
                // while sluice's own query runs: the notification is the client's.
                backend::notification_with_sender(
                    &mut self.client.output,
                    frame,
                    server.conn.cancel.process_id,
                    self.cancel.slot.process_id,
                );
                forward = false;
            }
            tag::PARAMETER_STATUS => {
                let mut parts = body.split(|&b| b == 0);
                let name = String::from_utf8_lossy(parts.next().unwrap_or_default());
                let value = String::from_utf8_lossy(parts.next().unwrap_or_default());
                server.conn.set_param(&name, &value);
                // The client sees the value of the server it is on, also after sluice's
                // own settings replay.
                forward = true;
            }
            tag::PARSE_COMPLETE => match self.pipeline.pop() {
                Some(Expect::InjectedParse { .. }) => forward = false,
                Some(Expect::ParseComplete { change, .. }) => self.resend.confirmed(change),
                _ => return Err(self.unexpected(server, t)),
            },
            tag::BIND_COMPLETE => match self.pipeline.pop() {
                Some(Expect::BindComplete { .. }) => {}
                _ => return Err(self.unexpected(server, t)),
            },
            tag::CLOSE_COMPLETE => match self.pipeline.pop() {
                Some(Expect::InjectedClose { .. }) => forward = false,
                Some(Expect::CloseComplete) => {}
                _ => return Err(self.unexpected(server, t)),
            },
            tag::ROW_DESCRIPTION | tag::NO_DATA => match self.pipeline.head() {
                Some(Expect::DescribeStatement | Expect::DescribePortal) => {
                    self.pipeline.pop();
                }
                Some(Expect::SimpleQuery { .. } | Expect::Internal { .. }) => {}
                _ => return Err(self.unexpected(server, t)),
            },
            tag::EMPTY_QUERY_RESPONSE
                if matches!(self.pipeline.head(), Some(Expect::StandInQuery { .. })) =>
            {
                if let Some(Expect::StandInQuery { reply, .. }) = self.pipeline.head() {
                    self.client.output.extend_from_slice(reply);
                }
                forward = false;
            }
            tag::COMMAND_COMPLETE | tag::EMPTY_QUERY_RESPONSE | tag::PORTAL_SUSPENDED => {
                if t == tag::COMMAND_COMPLETE {
                    if changes_schema(body) && self.shares_statements() {
                        self.route.statements.schema_changed();
                    }
                    if body.starts_with(b"COMMIT") {
                        self.commit_pending_commands(server);
                    } else if body.starts_with(b"ROLLBACK") {
                        // Also ROLLBACK TO SAVEPOINT, which keeps what ran before it.
                        self.abandon_pending_commands(server);
                    }
                }
                match self.pipeline.head() {
                    Some(Expect::Execute { .. }) => {
                        if let Some(Expect::Execute {
                            commands: Some(cmds),
                            ..
                        }) = self.pipeline.pop()
                        {
                            if t == tag::COMMAND_COMPLETE {
                                self.record_commands(server, &cmds);
                            }
                        }
                    }
                    Some(Expect::SimpleQuery { .. } | Expect::Internal { .. }) => {}
                    _ => return Err(self.unexpected(server, t)),
                }
            }
            tag::ERROR_RESPONSE => forward &= self.on_error(server, body),
            tag::READY_FOR_QUERY => {
                let status = body
                    .first()
                    .and_then(|&b| TxStatus::from_byte(b))
                    .ok_or_else(|| server.protocol_error("bad ReadyForQuery".into()))?;
                match self.pipeline.pop() {
                    Some(Expect::Sync { since }) => self
                        .route
                        .metrics
                        .query_time
                        .record(since.elapsed().as_secs_f64()),
                    Some(Expect::StandInQuery { .. }) => {}
                    Some(Expect::SimpleQuery {
                        commands,
                        failed,
                        since,
                    }) => {
                        self.route
                            .metrics
                            .query_time
                            .record(since.elapsed().as_secs_f64());
                        if let Some(cmds) = commands {
                            if failed {
                                // Some of its statements may have run: the server's state
                                // is no longer known.
                                server.conn.settings.mark_unknown();
                            } else {
                                self.record_commands(server, &cmds);
                            }
                        }
                    }
                    Some(Expect::Internal { failed }) => {
                        forward = false;
                        if failed {
                            server.conn.settings.mark_unknown();
                        } else {
                            let wanted = self.view.settings().clone();
                            server.conn.settings = wanted;
                        }
                    }
                    _ => return Err(self.unexpected(server, t)),
                }
                self.view.tx_status = status;
                if forward {
                    self.route
                        .metrics
                        .transactions
                        .increment(u64::from(status == TxStatus::Idle));
                }
                if status == TxStatus::Idle {
                    self.commit_pending_commands(server);
                    // Not while later messages are translated: they may bind anew.
                    if self.pipeline.is_settled() {
                        self.view.portals.end_of_transaction();
                    }
                }
            }
            _ => return Err(self.unexpected(server, t)),
        }
        if forward {
            self.client.output.extend_from_slice(frame);
        }
        Ok(())
    }

    /// Acts on an ErrorResponse; returns whether the server's message goes to the client
    /// as it is (false when sluice sent its own in its place).
    fn on_error(&mut self, server: &mut Attached, body: &[u8]) -> bool {
        let fields = ErrorFields::parse(body);
        // Only a server that stops says nothing ran; a broken link says nothing.
        let how = if fields.code.starts_with("57P") {
            Gone::Stopping
        } else {
            Gone::Closed
        };
        if fields.is_fatal() && is_going_away(&fields.code) && self.outlive_server(server, how) {
            // The server stops (shutdown, failover): the session goes on without it.
            return false;
        }
        // An error is an outcome the client sees.
        self.resend.shut();
        // The transaction (implicit or not) fails: its SETs are rolled back with it.
        self.abandon_pending_commands(server);
        // An error ends copy-in on the server side.
        server.copy_in = false;
        if fields.is_fatal() {
            server.health = ServerHealth::Ending;
        }
        match self.pipeline.head_mut() {
            Some(Expect::SimpleQuery { failed, .. }) => *failed = true,
            Some(Expect::Internal { failed }) => {
                *failed = true;
                tracing::warn!(
                    route = %self.route.name, code = %fields.code, message = %fields.message,
                    "replaying the client's session settings failed"
                );
            }
            // Ending the transaction at Sync failed (a deferred constraint), or nothing
            // was asked (the server is going away): no discard follows.
            Some(Expect::Sync { .. } | Expect::StandInQuery { .. }) | None => {}
            Some(_) => return self.on_extended_error(server, &fields),
        }
        true
    }

    /// An extended-protocol request failed: the server discards everything up to the
    /// next Sync. The expectations of those messages go, and what translating them
    /// changed is undone, latest first.
    fn on_extended_error(&mut self, server: &mut Attached, fields: &ErrorFields) -> bool {
        let mut forward = true;
        match self.pipeline.head() {
            Some(
                Expect::BindComplete {
                    statement: Some(id),
                }
                | Expect::Execute {
                    statement: Some(id),
                    ..
                },
            ) if fields.is_stale_cached_plan() => {
                // Re-prepare before the next use, so a retry sees the new shape.
                let id = *id;
                server.conn.statements.invalidate(id);
            }
            Some(Expect::FailingParse { failure }) if fields.code == "42P05" => {
                // The server named the statement it holds; the client is told why its
                // own Parse failed.
                let (code, message) = failure.error();
                backend::error_response(&mut self.client.output, Severity::Error, code, &message);
                forward = false;
            }
            _ => {}
        }
        let dropped: Vec<Expect> = self.pipeline.discard_to_sync().collect();
        tracing::trace!(
            dropped = dropped.len(),
            discarding = self.pipeline.discarding(),
            "discarded up to Sync"
        );
        for (i, e) in dropped.into_iter().enumerate().rev() {
            let why = if i == 0 {
                Undone::Failed
            } else {
                Undone::Discarded
            };
            match e {
                Expect::ParseComplete { statement, change } => {
                    if let Some(id) = statement {
                        server.conn.statements.forget(id);
                    }
                    self.view.revert(change, why);
                }
                Expect::InjectedParse { statement } => server.conn.statements.forget(statement),
                Expect::InjectedClose { statement } => {
                    server.conn.statements.close_later(statement)
                }
                Expect::Local { change, .. } | Expect::StandInQuery { change, .. } => {
                    self.view.revert(change, why)
                }
                _ => {}
            }
        }
        forward
    }

    /// Notes SET/RESET that ran; they take effect for the client when the
    /// transaction commits.
    fn record_commands(&mut self, server: &mut Attached, cmds: &Arc<[SessionCommand]>) {
        for c in cmds.iter() {
            match c {
                SessionCommand::DiscardAll => {
                    self.view.statements.clear();
                    server.conn.statements.clear();
                    self.view.pending_commands.push(c.clone());
                }
                SessionCommand::DeallocateAll => {
                    self.view.statements.clear();
                    server.conn.statements.clear();
                }
                SessionCommand::Deallocate { .. } => {}
                _ => self.view.pending_commands.push(c.clone()),
            }
        }
    }

    /// The transaction that ran them ended in a rollback, or failed: they no longer
    /// follow the client, and what the server kept (a savepoint may have kept some) is
    /// unknown, so the next client's settings replay starts from RESET ALL.
    fn abandon_pending_commands(&mut self, server: &mut Attached) {
        if !self.view.pending_commands.is_empty() {
            self.view.pending_commands.clear();
            server.conn.settings.mark_unknown();
        }
    }

    fn commit_pending_commands(&mut self, server: &mut Attached) {
        if self.view.pending_commands.is_empty() {
            return;
        }
        let cmds = std::mem::take(&mut self.view.pending_commands);
        let base = self.info.base_settings.clone();
        let server_base = Settings::default();
        for c in &cmds {
            c.apply(self.view.settings_mut(), &base);
            c.apply(&mut server.conn.settings, &server_base);
        }
    }
}

/// Whether a server message tells the client something of its request's outcome: a
/// command completed, rows or a notice came, the batch ended. The others (Parse, Bind
/// and Close completing, descriptions, parameter changes) come before any outcome and
/// are the same from any server.
fn shows_outcome(t: u8) -> bool {
    !matches!(
        t,
        tag::PARSE_COMPLETE
            | tag::BIND_COMPLETE
            | tag::CLOSE_COMPLETE
            | tag::PARAMETER_DESCRIPTION
            | tag::ROW_DESCRIPTION
            | tag::NO_DATA
            | tag::PARAMETER_STATUS
            | tag::ERROR_RESPONSE
    )
}

/// FATAL codes of a server that is going away rather than refusing this client:
/// admin_shutdown, crash_shutdown, cannot_connect_now, and connection failures.
fn is_going_away(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08")
}
