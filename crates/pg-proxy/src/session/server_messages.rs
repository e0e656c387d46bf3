//! Relaying the server's messages to the client, matched against the pipeline: replies
//! to sluice's own requests are hidden, errors unwind the pipeline as PostgreSQL does,
//! and ReadyForQuery carries the transaction status that decides when to release.

use std::sync::Arc;

use super::pipeline::Expect;
use super::relay::{Relay, SessionError, SERVER_MESSAGE_LIMIT};
use super::settings::{SessionCommand, Settings};
use crate::protocol::error_fields::ErrorFields;
use crate::protocol::frame::{parse_header, HEADER_LEN};
use crate::protocol::tags::{backend as tag, TxStatus};

impl Relay {
    /// Relays every complete (or streamable) server message buffered.
    pub(super) fn process_server_input(&mut self) -> Result<(), SessionError> {
        loop {
            let server = self.server.as_mut().expect("attached");
            if self.server_passthrough > 0 {
                let n = self.server_passthrough.min(server.read_buf.len());
                if n == 0 {
                    break;
                }
                self.client_out
                    .extend_from_slice(&server.read_buf.split_to(n));
                self.server_passthrough -= n;
                continue;
            }
            let header = match parse_header(&server.read_buf, SERVER_MESSAGE_LIMIT) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(self.server_protocol_error(e.to_string())),
            };
            if server.read_buf.len() < header.frame_len() {
                let streamable = header.tag == tag::DATA_ROW || header.tag == tag::COPY_DATA;
                let swallowing = matches!(self.pipeline.head(), Some(Expect::Internal { .. }));
                if streamable && !swallowing {
                    // Stream large rows instead of buffering them whole.
                    let n = server.read_buf.len();
                    self.client_out
                        .extend_from_slice(&server.read_buf.split_to(n));
                    self.server_passthrough = header.frame_len() - n;
                }
                break;
            }
            let frame = server.read_buf.split_to(header.frame_len());
            self.on_server_message(header.tag, &frame)?;
            self.emit_local_replies();
        }
        Ok(())
    }

    /// Replies to sluice's own settings query are not shown to the client.
    fn swallowing(&self) -> bool {
        matches!(self.pipeline.head(), Some(Expect::Internal { .. }))
    }

    fn server_protocol_error(&mut self, msg: String) -> SessionError {
        self.server_broken = true;
        SessionError::ServerProtocol(msg)
    }

    fn unexpected(&mut self, t: u8) -> SessionError {
        let head = format!("{:?}", self.pipeline.head());
        self.server_protocol_error(format!(
            "unexpected message {:?} while expecting {head}",
            t as char
        ))
    }

    fn on_server_message(&mut self, t: u8, frame: &[u8]) -> Result<(), SessionError> {
        let body = &frame[HEADER_LEN..];
        tracing::trace!(tag = %(t as char), len = frame.len(), head = ?self.pipeline.head(), "server message");
        let mut forward = !self.swallowing();
        match t {
            tag::COPY_IN_RESPONSE => {
                if !self.pipeline.enter_copy_in() {
                    self.server_copy_in = true;
                }
            }
            tag::DATA_ROW
            | tag::COPY_DATA
            | tag::COPY_DONE
            | tag::COPY_OUT_RESPONSE
            | tag::COPY_BOTH_RESPONSE
            | tag::NOTICE_RESPONSE
            | tag::NOTIFICATION_RESPONSE
            | tag::PARAMETER_DESCRIPTION
            | tag::FUNCTION_CALL_RESPONSE => {}
            tag::PARAMETER_STATUS => {
                let mut parts = body.split(|&b| b == 0);
                let name = String::from_utf8_lossy(parts.next().unwrap_or_default());
                let value = String::from_utf8_lossy(parts.next().unwrap_or_default());
                let server = self.server.as_mut().expect("attached");
                server.set_param(&name, &value);
                // The client sees the value of the server it is on, also after sluice's
                // own settings replay.
                forward = true;
            }
            tag::PARSE_COMPLETE => match self.pipeline.pop() {
                Some(Expect::InjectedParse { .. }) => forward = false,
                Some(Expect::ParseComplete { .. }) => {}
                _ => return Err(self.unexpected(t)),
            },
            tag::BIND_COMPLETE => match self.pipeline.pop() {
                Some(Expect::BindComplete { .. }) => {}
                _ => return Err(self.unexpected(t)),
            },
            tag::CLOSE_COMPLETE => match self.pipeline.pop() {
                Some(Expect::InjectedClose) => forward = false,
                Some(Expect::CloseComplete) => {}
                _ => return Err(self.unexpected(t)),
            },
            tag::ROW_DESCRIPTION | tag::NO_DATA => match self.pipeline.head() {
                Some(Expect::DescribeStatement | Expect::DescribePortal) => {
                    self.pipeline.pop();
                }
                Some(Expect::SimpleQuery { .. } | Expect::Internal { .. }) => {}
                _ => return Err(self.unexpected(t)),
            },
            tag::COMMAND_COMPLETE | tag::EMPTY_QUERY_RESPONSE | tag::PORTAL_SUSPENDED => {
                if t == tag::COMMAND_COMPLETE && body.starts_with(b"ROLLBACK") {
                    self.rollback_seen = true;
                }
                match self.pipeline.head() {
                    Some(Expect::Execute { .. }) => {
                        if let Some(Expect::Execute {
                            commands: Some(cmds),
                            ..
                        }) = self.pipeline.pop()
                        {
                            if t == tag::COMMAND_COMPLETE {
                                self.record_commands(&cmds);
                            }
                        }
                    }
                    Some(Expect::SimpleQuery { .. } | Expect::Internal { .. }) => {}
                    _ => return Err(self.unexpected(t)),
                }
            }
            tag::ERROR_RESPONSE => self.on_error(body),
            tag::READY_FOR_QUERY => {
                let status = body
                    .first()
                    .and_then(|&b| TxStatus::from_byte(b))
                    .ok_or_else(|| self.server_protocol_error("bad ReadyForQuery".into()))?;
                match self.pipeline.pop() {
                    Some(Expect::Sync) => {}
                    Some(Expect::SimpleQuery { commands, failed }) => {
                        if let Some(cmds) = commands {
                            if failed {
                                // Some of its statements may have run: the server's state
                                // is no longer known.
                                self.server_mut().settings.mark_unknown();
                            } else {
                                self.record_commands(&cmds);
                            }
                        }
                    }
                    Some(Expect::Internal { failed }) => {
                        forward = false;
                        if failed {
                            self.server_mut().settings.mark_unknown();
                        } else {
                            let wanted = self.settings.clone();
                            self.server_mut().settings = wanted;
                        }
                    }
                    _ => return Err(self.unexpected(t)),
                }
                self.tx_status = status;
                if forward {
                    self.route
                        .metrics
                        .transactions
                        .increment(u64::from(status == TxStatus::Idle));
                }
                if status == TxStatus::Idle {
                    self.commit_pending_commands();
                }
            }
            _ => return Err(self.unexpected(t)),
        }
        if forward {
            self.client_out.extend_from_slice(frame);
        }
        Ok(())
    }

    fn server_mut(&mut self) -> &mut crate::server::ServerConn {
        self.server.as_mut().expect("attached")
    }

    fn on_error(&mut self, body: &[u8]) {
        let fields = ErrorFields::parse(body);
        // An error ends copy-in on the server side.
        self.server_copy_in = false;
        if fields.is_fatal() {
            self.server_broken = true;
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
            _ => {
                // Extended protocol: the server skips to the next Sync. Statements whose
                // Parse never ran are not on the server.
                if let Some(
                    Expect::BindComplete {
                        statement: Some(id),
                    }
                    | Expect::Execute {
                        statement: Some(id),
                        ..
                    },
                ) = self.pipeline.head()
                {
                    if fields.is_stale_cached_plan() {
                        // Re-prepare before the next use, so a retry sees the new shape.
                        let id = *id;
                        self.server_mut().statements.invalidate(id);
                    }
                }
                let mut forget = Vec::new();
                for e in self.pipeline.skip_to_sync() {
                    if let Expect::ParseComplete {
                        statement: Some(id),
                    }
                    | Expect::InjectedParse { statement: id } = e
                    {
                        forget.push(id);
                    }
                }
                let server = self.server_mut();
                for id in forget {
                    server.statements.forget(id);
                }
            }
        }
    }

    /// Notes SET/RESET that ran; they take effect for the client when the
    /// transaction commits.
    fn record_commands(&mut self, cmds: &Arc<[SessionCommand]>) {
        for c in cmds.iter() {
            match c {
                SessionCommand::DiscardAll => {
                    self.statements.clear();
                    let server = self.server_mut();
                    server.statements.clear();
                    self.pending_commands.push(c.clone());
                }
                SessionCommand::DeallocateAll => {
                    self.statements.clear();
                    self.server_mut().statements.clear();
                }
                SessionCommand::Deallocate { .. } => {}
                _ => self.pending_commands.push(c.clone()),
            }
        }
    }

    fn commit_pending_commands(&mut self) {
        if self.pending_commands.is_empty() {
            self.rollback_seen = false;
            return;
        }
        let cmds = std::mem::take(&mut self.pending_commands);
        if std::mem::take(&mut self.rollback_seen) {
            return;
        }
        let base = self.info.base_settings.clone();
        let server_base = Settings::default();
        for c in &cmds {
            c.apply(&mut self.settings, &base);
            let server = self.server.as_mut().expect("attached");
            c.apply(&mut server.settings, &server_base);
        }
    }
}
