//! Translating the client's messages for the attached server: statement names are
//! mapped to shared ones, Parse and Close of named statements may be answered by sluice,
//! and every message that earns a reply adds its expectation to the pipeline.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::pipeline::Expect;
use super::relay::{Flow, Relay, SessionError, CLIENT_MESSAGE_LIMIT};
use super::settings::SessionCommand;
use super::statements::{commands_of, SharedStatement};
use crate::protocol::backend::{self, Severity};
use crate::protocol::frame::{parse_header, HEADER_LEN};
use crate::protocol::frontend::{self, BindView, ParseView, Target, TargetView};
use crate::protocol::tags::{frontend as tag, TxStatus};

fn local(build: impl FnOnce(&mut BytesMut)) -> Expect {
    let mut b = BytesMut::new();
    build(&mut b);
    Expect::Local(b.freeze())
}

impl Relay {
    /// Translates every buffered client message for the attached server.
    pub(super) fn process_client_input(&mut self) -> Result<Flow, SessionError> {
        let mut first = true;
        loop {
            if self.client_passthrough > 0 {
                let n = self.client_passthrough.min(self.client_in.len());
                if n == 0 {
                    break;
                }
                self.server_out
                    .extend_from_slice(&self.client_in.split_to(n));
                self.client_passthrough -= n;
                continue;
            }
            let Some(h) = parse_header(&self.client_in, CLIENT_MESSAGE_LIMIT)
                .map_err(|e| SessionError::ClientProtocol(e.to_string()))?
            else {
                break;
            };
            if self.client_in.len() < h.frame_len() {
                if h.tag == tag::COPY_DATA {
                    // Large COPY chunks are streamed through, not buffered whole.
                    let n = self.client_in.len();
                    self.server_out
                        .extend_from_slice(&self.client_in.split_to(n));
                    self.client_passthrough = h.frame_len() - n;
                }
                break;
            }
            let frame = self.client_in.split_to(h.frame_len());
            if std::mem::take(&mut first) {
                // Ahead of the client's messages, so the Sync that ends them also
                // flushes the CloseComplete.
                self.close_stale_statements();
            }
            if self.on_client_message(h.tag, &frame)? == Flow::Terminate {
                return Ok(Flow::Terminate);
            }
        }
        self.emit_local_replies();
        Ok(Flow::Continue)
    }

    fn on_client_message(&mut self, t: u8, frame: &[u8]) -> Result<Flow, SessionError> {
        let body = &frame[HEADER_LEN..];
        tracing::trace!(tag = %(t as char), len = frame.len(), "client message");
        let malformed = |e: frontend::MalformedMessage| SessionError::ClientProtocol(e.to_string());
        match t {
            tag::QUERY => {
                let text = frontend::query_text(body).map_err(malformed)?;
                self.route.metrics.queries.increment(1);
                let commands = commands_of(text);
                if let Some(cmds) = &commands {
                    if self.answer_locally(cmds) {
                        return Ok(Flow::Continue);
                    }
                }
                self.server_out.extend_from_slice(frame);
                self.pipeline.push(Expect::SimpleQuery {
                    commands,
                    failed: false,
                });
            }
            tag::PARSE => {
                let parse = ParseView::decode(body).map_err(malformed)?;
                if parse.name.is_empty() {
                    self.unnamed_commands = commands_of(parse.query);
                    self.server_out.extend_from_slice(frame);
                    self.pipeline
                        .push(Expect::ParseComplete { statement: None });
                } else {
                    let shared = self.route.statements.intern(&parse);
                    self.statements.insert(parse.name, shared.clone());
                    let server = self.server.as_mut().expect("attached");
                    if server.statements.touch(shared.id) {
                        self.pipeline.push(local(backend::parse_complete));
                    } else {
                        self.prepare_on_server(&shared);
                        self.pipeline.push(Expect::ParseComplete {
                            statement: Some(shared.id),
                        });
                    }
                }
            }
            tag::BIND => {
                let bind = BindView::decode(body).map_err(malformed)?;
                if bind.statement.is_empty() {
                    self.bound = (None, self.unnamed_commands.clone());
                    self.server_out.extend_from_slice(frame);
                } else if let Some(shared) = self.statements.get(bind.statement).cloned() {
                    self.ensure_prepared(&shared);
                    bind.encode_named(&mut self.server_out, &shared.name);
                    self.bound = (Some(shared.id), shared.commands.clone());
                } else {
                    // Unknown to sluice: the server answers with its own error.
                    self.bound = (None, None);
                    self.server_out.extend_from_slice(frame);
                }
                self.pipeline.push(Expect::BindComplete {
                    statement: self.bound.0,
                });
            }
            tag::DESCRIBE => {
                let target = TargetView::decode(body, "Describe").map_err(malformed)?;
                match target.target {
                    Target::Statement => {
                        match self.statements.get(target.name).cloned() {
                            Some(shared) if !target.name.is_empty() => {
                                self.ensure_prepared(&shared);
                                frontend::write_target(
                                    &mut self.server_out,
                                    tag::DESCRIBE,
                                    Target::Statement,
                                    &shared.name,
                                );
                            }
                            _ => self.server_out.extend_from_slice(frame),
                        }
                        self.pipeline.push(Expect::DescribeStatement);
                    }
                    Target::Portal => {
                        self.server_out.extend_from_slice(frame);
                        self.pipeline.push(Expect::DescribePortal);
                    }
                }
            }
            tag::EXECUTE => {
                self.route.metrics.queries.increment(1);
                self.server_out.extend_from_slice(frame);
                let (statement, commands) = self.bound.clone();
                self.pipeline.push(Expect::Execute {
                    statement,
                    commands,
                });
            }
            tag::CLOSE => {
                let target = TargetView::decode(body, "Close").map_err(malformed)?;
                if target.target == Target::Statement && !target.name.is_empty() {
                    // Shared statements stay prepared on the server for other clients.
                    self.statements.remove(target.name);
                    self.pipeline.push(local(backend::close_complete));
                } else {
                    self.server_out.extend_from_slice(frame);
                    self.pipeline.push(Expect::CloseComplete);
                }
            }
            tag::SYNC => {
                self.server_out.extend_from_slice(frame);
                // The server ignores Sync during copy-in.
                if !self.server_copy_in {
                    self.pipeline.push(Expect::Sync);
                }
            }
            tag::COPY_DONE | tag::COPY_FAIL => {
                self.server_out.extend_from_slice(frame);
                if self.server_copy_in {
                    self.server_copy_in = false;
                } else {
                    // The CopyInResponse is still on its way.
                    self.pipeline.push(Expect::CopyEnd);
                }
            }
            tag::FLUSH | tag::COPY_DATA => {
                self.server_out.extend_from_slice(frame);
            }
            tag::FUNCTION_CALL => {
                self.server_out.extend_from_slice(frame);
                self.pipeline.push(Expect::SimpleQuery {
                    commands: None,
                    failed: false,
                });
            }
            tag::TERMINATE => return Ok(Flow::Terminate),
            other => {
                return Err(SessionError::ClientProtocol(format!(
                    "invalid frontend message type {:?}",
                    other as char
                )))
            }
        }
        Ok(Flow::Continue)
    }

    /// DISCARD ALL and DEALLOCATE, sent alone, concern only this client's view: sluice
    /// answers them without touching the shared server state.
    fn answer_locally(&mut self, cmds: &[SessionCommand]) -> bool {
        let [cmd] = cmds else { return false };
        let tag_text = match cmd {
            SessionCommand::DiscardAll if self.tx_status == TxStatus::Idle => {
                self.statements.clear();
                self.settings = self.info.base_settings.clone();
                "DISCARD ALL"
            }
            SessionCommand::DeallocateAll => {
                self.statements.clear();
                "DEALLOCATE ALL"
            }
            SessionCommand::Deallocate { name } => {
                if self.statements.get(name.as_bytes()).is_none() {
                    let msg = format!("prepared statement \"{name}\" does not exist");
                    self.pipeline.push(local(|b| {
                        backend::error_response(b, Severity::Error, "26000", &msg)
                    }));
                    self.pipeline.push(Expect::LocalReady);
                    return true;
                }
                self.statements.remove(name.as_bytes());
                "DEALLOCATE"
            }
            _ => return false,
        };
        self.pipeline
            .push(local(|b| backend::command_complete(b, tag_text)));
        self.pipeline.push(Expect::LocalReady);
        true
    }

    /// Makes sure the attached server holds `shared`, injecting a hidden Parse if not.
    fn ensure_prepared(&mut self, shared: &Arc<SharedStatement>) {
        let server = self.server.as_mut().expect("attached");
        if !server.statements.touch(shared.id) {
            self.prepare_on_server(shared);
            self.pipeline.push(Expect::InjectedParse {
                statement: shared.id,
            });
        }
    }

    /// Writes the Parse for `shared`, closing an evicted statement first.
    fn prepare_on_server(&mut self, shared: &SharedStatement) {
        let server = self.server.as_mut().expect("attached");
        if let Some(evicted) = server.statements.insert(shared.id) {
            self.write_hidden_close(evicted);
        }
        self.server_out.extend_from_slice(&shared.parse);
    }

    fn write_hidden_close(&mut self, id: u64) {
        let name = Bytes::from(crate::server::shared_statement_name(id));
        frontend::write_target(&mut self.server_out, tag::CLOSE, Target::Statement, &name);
        self.pipeline.push(Expect::InjectedClose);
    }

    /// Closes statements whose plans went stale, before anything else is sent.
    fn close_stale_statements(&mut self) {
        let Some(server) = self.server.as_mut() else {
            return;
        };
        if let Some(ids) = server.statements.take_to_close() {
            for id in ids {
                self.write_hidden_close(id);
            }
        }
    }

    /// Sends the replies sluice owes itself once they reach the head of the pipeline.
    pub(super) fn emit_local_replies(&mut self) {
        while let Some(head) = self.pipeline.head() {
            match head {
                Expect::Local(bytes) => {
                    self.client_out.extend_from_slice(bytes);
                }
                Expect::LocalReady => {
                    backend::ready_for_query(&mut self.client_out, self.tx_status);
                }
                Expect::CopyEnd => {}
                _ => break,
            }
            self.pipeline.pop();
        }
    }
}
