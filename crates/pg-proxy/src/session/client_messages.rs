//! Translating the client's messages for the attached server: statement names are
//! mapped to shared ones, Parse and Close of named statements may be answered by sluice,
//! and every message that earns a reply adds its expectation to the pipeline.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::attached::Attached;
use super::error::{SessionError, CLIENT_MESSAGE_LIMIT};
use super::pipeline::{Expect, ParseFailure};
use super::portals::Bound;
use super::relay::{Flow, Relay};
use super::view_change::ViewChange;
use crate::protocol::backend;
use crate::protocol::frame::{parse_header, HEADER_LEN};
use crate::protocol::frontend::{self, BindView, ParseView, Target, TargetView};
use crate::protocol::tags::{frontend as tag, TxStatus};
use crate::route::PoolMode;
use crate::state::pin::Refusal;
use crate::state::settings::SessionCommand;
use crate::state::statements::{commands_of, SharedStatement};

const PARSE_COMPLETE: &[u8] = &[b'1', 0, 0, 0, 4];
const CLOSE_COMPLETE: &[u8] = &[b'3', 0, 0, 0, 4];

impl Relay {
    /// Translates every buffered client message for the attached server.
    pub(super) fn process_client_input(
        &mut self,
        server: &mut Attached,
    ) -> Result<Flow, SessionError> {
        loop {
            if self.client.passthrough > 0 {
                let n = self.client.passthrough.min(self.client.input.len());
                if n == 0 {
                    break;
                }
                self.server_out
                    .extend_from_slice(&self.client.input.split_to(n));
                self.client.passthrough -= n;
                continue;
            }
            let Some(h) = parse_header(&self.client.input, CLIENT_MESSAGE_LIMIT)
                .map_err(|e| SessionError::ClientProtocol(e.to_string()))?
            else {
                break;
            };
            if self.client.input.len() < h.frame_len() {
                if h.tag == tag::COPY_DATA {
                    self.resend.shut();
                    // Large COPY chunks are streamed through, not buffered whole.
                    let n = self.client.input.len();
                    self.server_out
                        .extend_from_slice(&self.client.input.split_to(n));
                    self.client.passthrough = h.frame_len() - n;
                }
                break;
            }
            if self.must_wait(h.tag, &self.client.input[HEADER_LEN..h.frame_len()]) {
                if self.pipeline.needs_flush() {
                    frontend::write_flush(&mut self.server_out);
                    self.pipeline.flush_sent();
                }
                break;
            }
            let frame = self.client.input.split_to(h.frame_len());
            self.resend.keep(h.tag, &frame);
            if self.on_client_message(server, h.tag, &frame)? == Flow::Terminate {
                return Ok(Flow::Terminate);
            }
        }
        self.emit_local_replies();
        Ok(Flow::Continue)
    }

    /// Whether a client message must wait for replies still owed, because how sluice
    /// translates it depends on them: prepared statements are about to change and the
    /// server has not said how yet, or a DEALLOCATE sluice answers needs the client's
    /// statements and transaction status as they stand once everything before it ran.
    fn must_wait(&self, t: u8, body: &[u8]) -> bool {
        if self.pipeline.discarding() || !self.shares_statements() {
            return false;
        }
        if t == tag::QUERY {
            // Only a query that starts with DEALLOCATE is scanned a second time.
            return !self.pipeline.is_empty()
                && frontend::query_text(body).is_ok_and(starts_with_deallocate)
                && frontend::query_text(body)
                    .ok()
                    .and_then(|q| commands_of(q, self.backslash_escapes(), self.trusted()))
                    .is_some_and(|cmds| matches!(*cmds, [SessionCommand::Deallocate { .. }]));
        }
        self.pipeline.statements_unconfirmed() && names_a_statement(t, body)
    }

    fn on_client_message(
        &mut self,
        server: &mut Attached,
        t: u8,
        frame: &[u8],
    ) -> Result<Flow, SessionError> {
        let body = &frame[HEADER_LEN..];
        tracing::trace!(tag = %(t as char), len = frame.len(), "client message");
        if self.pipeline.discarding() {
            if t != tag::SYNC && t != tag::TERMINATE {
                // An earlier request of this batch failed: the server would discard
                // this message unanswered, so sluice does not send it.
                return Ok(Flow::Continue);
            }
        } else if !matches!(t, tag::COPY_DATA | tag::COPY_DONE | tag::COPY_FAIL) {
            // Ahead of the client's message, so the Sync that ends it also flushes the
            // CloseComplete.
            self.close_stale_statements(server);
        }
        let malformed = |e: frontend::MalformedMessage| SessionError::ClientProtocol(e.to_string());
        match t {
            tag::QUERY => {
                let text = frontend::query_text(body).map_err(malformed)?;
                self.route.metrics.queries.increment(1);
                let commands = commands_of(text, self.backslash_escapes(), self.trusted());
                if let Some(refusal) = self.refusal_in(commands.as_deref()) {
                    frontend::write_query(&mut self.server_out, refusal.stand_in_sql());
                    self.pipeline.push(Expect::simple_query(None));
                    return Ok(Flow::Continue);
                }
                self.pin_for(commands.as_deref());
                if let Some(cmds) = &commands {
                    if self.answer_locally(server, cmds) {
                        return Ok(Flow::Continue);
                    }
                }
                self.server_out.extend_from_slice(frame);
                self.pipeline.push(Expect::simple_query(commands));
            }
            tag::PARSE => {
                let parse = ParseView::decode(body).map_err(malformed)?;
                self.translate_parse(server, frame, &parse);
            }
            tag::BIND => {
                let bind = BindView::decode(body).map_err(malformed)?;
                let bound = if bind.statement.is_empty() {
                    self.server_out.extend_from_slice(frame);
                    Bound {
                        statement: None,
                        commands: self.view.unnamed_commands.clone(),
                    }
                } else if let Some(shared) = self.view.statements.get(bind.statement).cloned() {
                    self.ensure_prepared(server, &shared);
                    bind.encode_named(&mut self.server_out, &shared.name);
                    Bound {
                        statement: Some(shared.id),
                        commands: shared.commands.clone(),
                    }
                } else {
                    // Unknown to sluice: the server answers with its own error.
                    self.server_out.extend_from_slice(frame);
                    Bound::default()
                };
                self.pipeline.push(Expect::BindComplete {
                    statement: bound.statement,
                });
                self.view.portals.bind(bind.portal, bound);
            }
            tag::DESCRIBE => {
                let target = TargetView::decode(body, "Describe").map_err(malformed)?;
                match target.target {
                    Target::Statement => {
                        match self.view.statements.get(target.name).cloned() {
                            Some(shared) if !target.name.is_empty() => {
                                self.ensure_prepared(server, &shared);
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
                let portal = frontend::execute_portal(body).map_err(malformed)?;
                let Bound {
                    statement,
                    commands,
                } = self.view.portals.get(portal);
                self.pin_for(commands.as_deref());
                self.pipeline.push(Expect::Execute {
                    statement,
                    commands,
                });
            }
            tag::CLOSE => {
                let target = TargetView::decode(body, "Close").map_err(malformed)?;
                if target.target == Target::Statement
                    && !target.name.is_empty()
                    && self.shares_statements()
                {
                    // Shared statements stay prepared on the server for other clients.
                    let change = match self.view.statements.remove(target.name) {
                        Some(statement) => ViewChange::Removed {
                            name: Bytes::copy_from_slice(target.name),
                            statement,
                        },
                        None => ViewChange::None,
                    };
                    self.pipeline.push(Expect::Local {
                        reply: Bytes::from_static(CLOSE_COMPLETE),
                        change,
                    });
                } else {
                    if target.target == Target::Portal {
                        self.view.portals.close(target.name);
                    }
                    self.server_out.extend_from_slice(frame);
                    self.pipeline.push(Expect::CloseComplete);
                }
            }
            tag::SYNC => {
                self.server_out.extend_from_slice(frame);
                // The server ignores Sync during copy-in.
                if !server.copy_in {
                    self.pipeline.push(Expect::sync());
                }
            }
            tag::COPY_DONE | tag::COPY_FAIL => {
                self.server_out.extend_from_slice(frame);
                if server.copy_in {
                    server.copy_in = false;
                } else {
                    // The CopyInResponse is still on its way.
                    self.pipeline.push(Expect::CopyEnd);
                }
            }
            tag::FLUSH => {
                self.server_out.extend_from_slice(frame);
                self.pipeline.open_batch();
            }
            tag::COPY_DATA => {
                self.server_out.extend_from_slice(frame);
            }
            tag::FUNCTION_CALL => {
                self.server_out.extend_from_slice(frame);
                self.pipeline.push(Expect::simple_query(None));
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

    /// Named statements are shared by the route's clients (and so renamed) in
    /// transaction mode; in session mode the client's own names reach its server.
    pub(super) fn shares_statements(&self) -> bool {
        self.route.settings.mode == PoolMode::Transaction
    }

    /// A Parse: the unnamed statement (and in session mode any) goes as it is; a named
    /// one is mapped to the route's shared statement, answered by sluice when the server
    /// holds it already.
    fn translate_parse(&mut self, server: &mut Attached, frame: &[u8], parse: &ParseView<'_>) {
        if parse.name.is_empty() || !self.shares_statements() {
            let change = if parse.name.is_empty() {
                let commands = commands_of(parse.query, self.backslash_escapes(), self.trusted());
                match self.refusal_in(commands.as_deref()) {
                    Some(refusal) => frontend::write_parse(
                        &mut self.server_out,
                        b"",
                        refusal.stand_in_sql().as_bytes(),
                        parse.param_types,
                    ),
                    None => self.server_out.extend_from_slice(frame),
                }
                let previous = std::mem::replace(&mut self.view.unnamed_commands, commands);
                ViewChange::Unnamed { previous }
            } else {
                self.server_out.extend_from_slice(frame);
                ViewChange::None
            };
            self.pipeline.push(Expect::ParseComplete {
                statement: None,
                change,
            });
            return;
        }
        let failure = if self.view.statements.get(parse.name).is_some() {
            Some(ParseFailure::NameInUse(Bytes::copy_from_slice(parse.name)))
        } else {
            let limit = self.route.settings.max_prepared_statements;
            (self.view.statements.len() >= limit).then_some(ParseFailure::TooManyStatements(limit))
        };
        if let Some(failure) = failure {
            // The server fails it as PostgreSQL would, checking the query first, under
            // the name of a statement of the client's that it holds.
            let held = self
                .view
                .statements
                .get(parse.name)
                .or_else(|| self.view.statements.any())
                .cloned()
                .expect("a client at its statement limit holds statements");
            self.ensure_prepared(server, &held);
            parse.encode_named(&mut self.server_out, &held.name);
            self.pipeline.push(Expect::FailingParse { failure });
            return;
        }
        let shared = self.route.statements.intern(parse);
        let name = Bytes::copy_from_slice(parse.name);
        self.view.statements.insert(name.clone(), shared.clone());
        let change = ViewChange::Defined { name };
        // The server's verdict is needed where PostgreSQL could refuse the Parse: in a
        // failed transaction, or one that requests still in flight may fail. Then a
        // statement the server holds is prepared again instead of answered for.
        let certain = self.view.tx_status != TxStatus::Failed && self.pipeline.is_empty();
        let held = server.conn.statements.touch(shared.id);
        if held && certain {
            self.pipeline.push(Expect::Local {
                reply: Bytes::from_static(PARSE_COMPLETE),
                change,
            });
            return;
        }
        if held {
            server.conn.statements.forget(shared.id);
            self.write_hidden_close(shared.id);
        }
        self.prepare_on_server(server, &shared);
        self.pipeline.push(Expect::ParseComplete {
            statement: Some(shared.id),
            change,
        });
    }

    /// Why the statement with `commands` does not run as sent: transaction mode only,
    /// where the server connection holds other clients' statements.
    fn refusal_in(&self, commands: Option<&[SessionCommand]>) -> Option<Refusal> {
        match commands {
            Some([SessionCommand::Refuse(refusal)]) if self.shares_statements() => {
                tracing::debug!(route = %self.route.name, user = %self.info.user, ?refusal, "statement refused");
                Some(*refusal)
            }
            _ => None,
        }
    }

    /// DISCARD ALL and DEALLOCATE, sent alone, concern only this client's view: sluice
    /// answers them without touching the shared server state (a pinned client's DISCARD
    /// ALL goes to its server, whose state is its own). Where PostgreSQL would
    /// refuse them (a failed transaction, DISCARD ALL in a transaction block, an unknown
    /// name) or the outcome depends on requests still in flight, the server answers.
    fn answer_locally(&mut self, server: &mut Attached, cmds: &[SessionCommand]) -> bool {
        let [cmd] = cmds else { return false };
        if self.view.tx_status == TxStatus::Failed {
            return false;
        }
        let settled = self.pipeline.is_settled();
        let (tag_text, change) = match cmd {
            // In session mode the server's own settings must be reset: it runs it.
            SessionCommand::DiscardAll
                if settled
                    && self.view.tx_status == TxStatus::Idle
                    && self.route.settings.mode == PoolMode::Transaction
                    && self.view.pinned.is_none() =>
            {
                // Not undone if the request is sent again: it is not.
                self.resend.shut();
                self.view.statements.clear();
                *self.view.settings_mut() = self.info.base_settings.clone();
                // The attached server serves the client's next query too.
                self.replay_settings(server);
                ("DISCARD ALL", ViewChange::None)
            }
            // In session mode the client's statements are the server's own.
            SessionCommand::DeallocateAll if settled && self.shares_statements() => {
                self.resend.shut();
                self.view.statements.clear();
                ("DEALLOCATE ALL", ViewChange::None)
            }
            SessionCommand::Deallocate { name } => {
                match self.view.statements.remove(name.as_bytes()) {
                    Some(statement) => (
                        "DEALLOCATE",
                        ViewChange::Removed {
                            name: Bytes::copy_from_slice(name.as_bytes()),
                            statement,
                        },
                    ),
                    None => return false,
                }
            }
            _ => return false,
        };
        let mut reply = BytesMut::new();
        backend::command_complete(&mut reply, tag_text);
        frontend::write_query(&mut self.server_out, "");
        self.pipeline.push(Expect::StandInQuery {
            reply: reply.freeze(),
            change,
        });
        true
    }

    /// Makes sure the attached server holds `shared`, injecting a hidden Parse if not.
    fn ensure_prepared(&mut self, server: &mut Attached, shared: &Arc<SharedStatement>) {
        if !server.conn.statements.touch(shared.id) {
            self.prepare_on_server(server, shared);
            self.pipeline.push(Expect::InjectedParse {
                statement: shared.id,
            });
        }
    }

    /// Writes the Parse for `shared`, closing an evicted statement first.
    fn prepare_on_server(&mut self, server: &mut Attached, shared: &SharedStatement) {
        if let Some(evicted) = server.conn.statements.insert(shared.id) {
            self.write_hidden_close(evicted);
        }
        self.server_out.extend_from_slice(&shared.parse);
    }

    fn write_hidden_close(&mut self, id: u64) {
        let name = self.route.statements.name_of(id);
        frontend::write_target(&mut self.server_out, tag::CLOSE, Target::Statement, &name);
        self.pipeline.push(Expect::InjectedClose { statement: id });
    }

    /// Closes statements whose plans went stale, before anything else is sent.
    fn close_stale_statements(&mut self, server: &mut Attached) {
        if let Some(ids) = server.conn.statements.take_to_close() {
            for id in ids {
                self.write_hidden_close(id);
            }
        }
    }

    /// Sends the replies sluice owes itself once they reach the head of the pipeline.
    pub(super) fn emit_local_replies(&mut self) {
        while let Some(head) = self.pipeline.head() {
            match head {
                Expect::Local { reply, .. } => {
                    self.client.output.extend_from_slice(reply);
                }
                Expect::CopyEnd => {}
                _ => break,
            }
            if let Some(e) = self.pipeline.pop() {
                self.resend.confirmed(e.into_change());
            }
        }
    }
}

fn starts_with_deallocate(sql: &[u8]) -> bool {
    let start = sql.iter().position(|b| !b.is_ascii_whitespace());
    let head = &sql[start.unwrap_or(sql.len())..];
    head.len() >= 10 && head[..10].eq_ignore_ascii_case(b"deallocate")
}

/// Whether a client message refers to a named prepared statement (and so is translated
/// by the client's statement names).
fn names_a_statement(t: u8, body: &[u8]) -> bool {
    match t {
        tag::PARSE => ParseView::decode(body).is_ok_and(|p| !p.name.is_empty()),
        tag::BIND => BindView::decode(body).is_ok_and(|b| !b.statement.is_empty()),
        tag::DESCRIBE | tag::CLOSE => TargetView::decode(body, "Describe")
            .is_ok_and(|t| t.target == Target::Statement && !t.name.is_empty()),
        _ => false,
    }
}
