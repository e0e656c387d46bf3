//! A transaction whose server went away (the primary stopped or failed over). PostgreSQL
//! would end such a client's session; in transaction mode nothing else of the session
//! lives on that server, so sluice keeps the session and fails only the transaction, as
//! a serialization failure would: the client hears of the loss at its next request that
//! runs anything (or with its requests in flight, `server_gone.rs`), then the
//! transaction counts as failed until the client ends it, as PostgreSQL's aborted
//! transactions do: everything is refused (25P02) but ROLLBACK, and COMMIT, which rolls
//! back. The ending statement may come as a simple query or through Parse, Bind and
//! Execute of the unnamed statement. Its next transaction runs on whichever server is
//! primary then.

use bytes::Bytes;

use super::error::{SessionError, CLIENT_MESSAGE_LIMIT};
use super::relay::Relay;
use crate::protocol::backend::{self, Severity};
use crate::protocol::frame::{complete_frame, HEADER_LEN};
use crate::protocol::frontend::{
    execute_portal, query_text, BindView, MalformedMessage, ParseView, Target, TargetView,
};
use crate::protocol::tags::{frontend as tag, TxStatus};
use crate::sql::transaction_end::{transaction_end, End};

/// Where a client whose transaction was lost stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LostTransaction {
    /// The client has not been told yet: its next request that runs anything gets the
    /// error.
    Untold,
    /// Told: like a failed transaction, everything but its end is refused.
    Told,
    /// Told within the current batch: the rest of it, up to its Sync, is ignored.
    Discarding,
}

/// The transaction end the unnamed statement and portal hold, if they hold one.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct UnnamedEnds {
    statement: Option<End>,
    portal: Option<End>,
}

const LOST: &str = "the server connection of this transaction was lost (the database server stopped or failed over); the transaction was rolled back";
const ABORTED: &str =
    "current transaction is aborted, commands ignored until end of transaction block";

const NO_PARAMETERS: &[u8] = &[b't', 0, 0, 0, 6, 0, 0];
const NO_DATA: &[u8] = &[b'n', 0, 0, 0, 4];
const BIND_COMPLETE: &[u8] = &[b'2', 0, 0, 0, 4];

impl Relay {
    /// The server went away under an idle transaction: what the transaction did is
    /// gone, the session stays.
    pub(super) fn lose_transaction(&mut self) {
        tracing::info!(route = %self.route.name, user = %self.info.user, "server lost under an open transaction; the client keeps its session");
        self.view.pending_commands.clear();
        self.view.portals.end_of_transaction();
        self.view.lost_transaction = Some(LostTransaction::Untold);
        self.view.tx_status = TxStatus::Failed;
        self.view.unnamed_ends = UnnamedEnds::default();
    }

    /// Answers the client's requests while its transaction is lost, until one ends
    /// it. Returns true when it consumed any input.
    pub(super) fn answer_lost_transaction(&mut self) -> Result<bool, SessionError> {
        let mut answered = false;
        while let Some(lost) = self.view.lost_transaction {
            let Some(h) = complete_frame(&self.client.input, CLIENT_MESSAGE_LIMIT)
                .map_err(|e| SessionError::ClientProtocol(e.to_string()))?
            else {
                break;
            };
            if h.tag == tag::TERMINATE {
                // The session ends as usual; nothing of the transaction is left.
                self.end_lost_transaction();
                break;
            }
            let frame = self.client.input.split_to(h.frame_len());
            answered = true;
            let body = &frame[HEADER_LEN..];
            if lost == LostTransaction::Discarding {
                if h.tag == tag::SYNC {
                    self.view.lost_transaction = Some(LostTransaction::Told);
                    backend::ready_for_query(&mut self.client.output, self.view.tx_status);
                }
                continue;
            }
            self.answer_lost_message(lost, h.tag, body)
                .map_err(|e| SessionError::ClientProtocol(e.to_string()))?;
        }
        Ok(answered)
    }

    /// One message of a client whose transaction is lost, not in a discarded batch.
    fn answer_lost_message(
        &mut self,
        lost: LostTransaction,
        t: u8,
        body: &[u8],
    ) -> Result<(), MalformedMessage> {
        let out = &mut self.client.output;
        match t {
            tag::QUERY => {
                let text = std::str::from_utf8(query_text(body)?).unwrap_or("");
                match transaction_end(text) {
                    Some(end) => self.end_lost_with(lost, end, "ROLLBACK"),
                    None => self.refuse(lost, false),
                }
                backend::ready_for_query(&mut self.client.output, self.view.tx_status);
            }
            tag::SYNC => backend::ready_for_query(out, self.view.tx_status),
            tag::FLUSH | tag::COPY_DATA | tag::COPY_DONE | tag::COPY_FAIL => {}
            // A failed transaction still closes: statements leave the client's view.
            tag::CLOSE => {
                let close = TargetView::decode(body, "Close")?;
                match close.target {
                    Target::Statement => {
                        self.view.statements.remove(close.name);
                    }
                    Target::Portal => self.view.portals.close(close.name),
                }
                backend::close_complete(out);
            }
            // A statement may hold the transaction's end (drivers prepare ROLLBACK).
            tag::PARSE => {
                let parse = ParseView::decode(body)?;
                let end = std::str::from_utf8(parse.query)
                    .ok()
                    .and_then(transaction_end);
                match end {
                    Some(end) if parse.name.is_empty() => {
                        self.view.unnamed_ends.statement = Some(end);
                        backend::parse_complete(out);
                    }
                    Some(_) if self.view.statements.get(parse.name).is_none() => {
                        let shared = self.route.statements.intern(&parse);
                        let name = Bytes::copy_from_slice(parse.name);
                        self.view.statements.insert(name, shared);
                        backend::parse_complete(out);
                    }
                    _ => self.refuse(lost, true),
                }
            }
            tag::BIND => {
                let bind = BindView::decode(body)?;
                match self.statement_end(bind.statement) {
                    Some(end) if bind.portal.is_empty() => {
                        self.view.unnamed_ends.portal = Some(end);
                        self.client.output.extend_from_slice(BIND_COMPLETE);
                    }
                    _ => self.refuse(lost, true),
                }
            }
            tag::DESCRIBE => {
                let d = TargetView::decode(body, "Describe")?;
                let ends = match d.target {
                    Target::Statement => self.statement_end(d.name),
                    Target::Portal if d.name.is_empty() => self.view.unnamed_ends.portal,
                    Target::Portal => None,
                };
                let out = &mut self.client.output;
                match ends {
                    Some(_) => {
                        if d.target == Target::Statement {
                            out.extend_from_slice(NO_PARAMETERS);
                        }
                        out.extend_from_slice(NO_DATA);
                    }
                    _ => self.refuse(lost, true),
                }
            }
            tag::EXECUTE => match self.view.unnamed_ends.portal {
                Some(end) if execute_portal(body)?.is_empty() => {
                    self.end_lost_with(lost, end, "ROLLBACK")
                }
                _ => self.refuse(lost, true),
            },
            // Anything else runs something (FunctionCall): refused.
            _ => self.refuse(lost, true),
        }
        Ok(())
    }

    /// The transaction end the client's statement `name` holds, if it holds one.
    fn statement_end(&self, name: &[u8]) -> Option<End> {
        if name.is_empty() {
            return self.view.unnamed_ends.statement;
        }
        let shared = self.view.statements.get(name)?;
        let parse = ParseView::decode(&shared.parse[HEADER_LEN..]).ok()?;
        transaction_end(std::str::from_utf8(parse.query).ok()?)
    }

    /// ROLLBACK, or COMMIT, which rolls back (a COMMIT the client sends before it
    /// knows must fail: its work is gone).
    fn end_lost_with(&mut self, lost: LostTransaction, end: End, tag_text: &str) {
        if end == End::Commit && lost == LostTransaction::Untold {
            backend::error_response(&mut self.client.output, Severity::Error, "08006", LOST);
        } else {
            backend::command_complete(&mut self.client.output, tag_text);
        }
        self.end_lost_transaction();
    }

    /// The error for a request inside the lost transaction; in the extended protocol
    /// the rest of the batch is ignored, as PostgreSQL does after an error.
    fn refuse(&mut self, lost: LostTransaction, extended: bool) {
        let (code, message) = match lost {
            LostTransaction::Untold => ("08006", LOST),
            _ => ("25P02", ABORTED),
        };
        backend::error_response(&mut self.client.output, Severity::Error, code, message);
        self.view.lost_transaction = Some(if extended {
            LostTransaction::Discarding
        } else {
            LostTransaction::Told
        });
    }

    fn end_lost_transaction(&mut self) {
        self.view.lost_transaction = None;
        self.view.tx_status = TxStatus::Idle;
        self.view.unnamed_ends = UnnamedEnds::default();
    }
}
