//! A transaction whose server went away (the primary stopped or failed over) while the
//! client sat idle inside it. PostgreSQL would end such a client's session; in
//! transaction mode nothing else of the session lives on that server, so sluice keeps
//! the session and fails only the transaction, as a serialization failure would: the
//! client's next request gets the error and the transaction counts as failed until the
//! client ends it, and its next transaction runs on whichever server is primary then.

use bytes::Buf;

use super::error::{SessionError, CLIENT_MESSAGE_LIMIT};
use super::relay::Relay;
use crate::protocol::backend::{self, Severity};
use crate::protocol::frame::{complete_frame, HEADER_LEN};
use crate::protocol::frontend::query_text;
use crate::protocol::tags::{frontend as tag, TxStatus};
use crate::route::PoolMode;
use crate::sql::lexer::{Lexer, Token};

/// Where a client whose transaction was lost stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LostTransaction {
    /// The client has not been told yet: its next request gets the error.
    Untold,
    /// Told: like a failed transaction, everything but its end is refused.
    Told,
}

const LOST: &str = "the server connection of this transaction was lost (the database server stopped or failed over); the transaction was rolled back";
const ABORTED: &str =
    "current transaction is aborted, commands ignored until end of transaction block";

impl Relay {
    /// Whether losing the attached server now costs only the transaction: transaction
    /// mode, nothing of the session tied to that server, no request in flight, inside a
    /// transaction (between transactions there is nothing to lose).
    pub(super) fn can_lose_only_the_transaction(&self) -> bool {
        self.route.settings.mode == PoolMode::Transaction
            && self.view.pinned.is_none()
            && self.pipeline.is_empty()
            && self.client.passthrough == 0
            && self.view.tx_status != TxStatus::Idle
    }

    /// The server went away under an idle transaction: what the transaction did is
    /// gone, the session stays.
    pub(super) fn lose_transaction(&mut self) {
        tracing::info!(route = %self.route.name, user = %self.info.user, "server lost under an open transaction; the client keeps its session");
        self.route.metrics.count_lost_server();
        self.view.pending_commands.clear();
        self.view.portals.end_of_transaction();
        self.view.lost_transaction = Some(LostTransaction::Untold);
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
            match h.tag {
                // The session ends as usual; nothing of the transaction is left.
                tag::TERMINATE => {
                    self.end_lost_transaction();
                    break;
                }
                tag::QUERY => {
                    let frame = self.client.input.split_to(h.frame_len());
                    let text = query_text(&frame[HEADER_LEN..])
                        .map_err(|e| SessionError::ClientProtocol(e.to_string()))?;
                    self.answer_lost_query(lost, std::str::from_utf8(text).unwrap_or(""));
                }
                tag::SYNC => {
                    self.client.input.advance(h.frame_len());
                    self.fail_request(lost);
                    backend::ready_for_query(&mut self.client.output, self.view.tx_status);
                }
                // Parse, Bind, Execute...: refused once per batch, at its Sync, as a
                // failed transaction refuses them.
                _ => self.client.input.advance(h.frame_len()),
            }
            answered = true;
        }
        Ok(answered)
    }

    fn answer_lost_query(&mut self, lost: LostTransaction, text: &str) {
        let out = &mut self.client.output;
        match transaction_end(text) {
            Some(End::Rollback) => {
                backend::command_complete(out, "ROLLBACK");
                self.end_lost_transaction();
            }
            // A COMMIT the client sends before it knows must fail: its work is gone.
            Some(End::Commit) if lost == LostTransaction::Untold => {
                backend::error_response(out, Severity::Error, "08006", LOST);
                self.end_lost_transaction();
            }
            // After the error, COMMIT ends the failed transaction as ROLLBACK does.
            Some(End::Commit) => {
                backend::command_complete(out, "ROLLBACK");
                self.end_lost_transaction();
            }
            None => self.fail_request(lost),
        }
        backend::ready_for_query(&mut self.client.output, self.view.tx_status);
    }

    /// The error for a request inside the lost transaction; it is failed from then on.
    fn fail_request(&mut self, lost: LostTransaction) {
        let (code, message) = match lost {
            LostTransaction::Untold => ("08006", LOST),
            LostTransaction::Told => ("25P02", ABORTED),
        };
        backend::error_response(&mut self.client.output, Severity::Error, code, message);
        self.view.lost_transaction = Some(LostTransaction::Told);
        self.view.tx_status = TxStatus::Failed;
    }

    fn end_lost_transaction(&mut self) {
        self.view.lost_transaction = None;
        self.view.tx_status = TxStatus::Idle;
    }
}

/// How a query ends a transaction, if it is one statement that does.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Rollback,
    Commit,
}

/// `ROLLBACK`/`ABORT` (not `ROLLBACK TO SAVEPOINT`, `ROLLBACK PREPARED`) or
/// `COMMIT`/`END` (not `COMMIT PREPARED`), alone with its optional `WORK`/`TRANSACTION`
/// and `AND NO CHAIN`.
fn transaction_end(text: &str) -> Option<End> {
    let mut words = Vec::with_capacity(4);
    for t in Lexer::with_backslash_escapes(text, false) {
        match t.ok()? {
            Token::Word(w) => words.push(w.to_ascii_lowercase()),
            Token::Punct(b';') => {}
            _ => return None,
        }
        if words.len() > 5 {
            return None;
        }
    }
    let (first, rest) = words.split_first()?;
    let end = match first.as_str() {
        "rollback" | "abort" => End::Rollback,
        "commit" | "end" => End::Commit,
        _ => return None,
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let plain = matches!(
        rest.as_slice(),
        [] | ["work"]
            | ["transaction"]
            | ["and", "no", "chain"]
            | ["work" | "transaction", "and", "no", "chain"]
    );
    plain.then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ends_of_a_transaction_count() {
        assert_eq!(transaction_end("ROLLBACK"), Some(End::Rollback));
        assert_eq!(transaction_end("abort work;"), Some(End::Rollback));
        assert_eq!(transaction_end(" commit "), Some(End::Commit));
        assert_eq!(transaction_end("END TRANSACTION"), Some(End::Commit));
        assert_eq!(transaction_end("commit and no chain"), Some(End::Commit));
        for sql in [
            "rollback to savepoint a",
            "rollback prepared 'x'",
            "commit prepared 'x'",
            "commit and chain",
            "select 1",
            "rollback; select 1",
            "",
        ] {
            assert_eq!(transaction_end(sql), None, "{sql}");
        }
    }
}
