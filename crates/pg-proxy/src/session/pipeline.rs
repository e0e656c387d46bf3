//! The ordered list of responses a server connection still owes the client. Each request
//! the relay sends (or answers itself) appends what it expects; server messages are
//! matched against the head. This is what lets sluice hide the Parse/Close it injects and
//! answer a client's Parse or Close itself, without disturbing the order of replies.
//!
//! After an error in the extended protocol PostgreSQL discards every message up to the
//! next Sync (Query and FunctionCall included; only Sync and Terminate end the discard)
//! and answers that Sync with ReadyForQuery. The invariant kept here: nothing is ever
//! expected of a message the server discards, whatever order the client's messages and
//! the server's replies arrive in. Messages already translated when the error arrives
//! are dropped by [`Pipeline::discard_to_sync`]; messages that arrive later, before their
//! Sync, are recognised by [`Pipeline::discarding`] and never expected at all.
//!
//! A client message changes the client's statement names, and what sluice believes the
//! server holds, when sluice translates it (the change rides on its expectation, see
//! `view_change.rs`), and is undone if the server fails or discards it. Messages of the
//! same batch need no care (if the change is undone, they are discarded too), but a
//! message after a Sync must not be translated against a statement whose change is not
//! confirmed yet. A DISCARD ALL or DEALLOCATE ALL the server runs changes statements
//! only when it completes, so every message after it waits.
//! [`Pipeline::statements_unconfirmed`] tells the relay when to wait, and
//! [`Pipeline::needs_flush`] whether the server must first be asked to send what it
//! holds (PostgreSQL keeps extended-protocol replies until a Sync or Flush).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::view_change::ViewChange;
use crate::state::settings::SessionCommand;

/// What the next response(s) from the server, or from sluice, will be.
#[derive(Debug)]
pub enum Expect {
    /// ParseComplete for a client's Parse; `statement` is forgotten if the Parse fails.
    ParseComplete {
        statement: Option<u64>,
        change: ViewChange,
    },
    /// ParseComplete for a Parse sluice injected: not shown to the client.
    InjectedParse {
        statement: u64,
    },
    /// A client's Parse that must fail, sent to the server under the name of a
    /// statement the server holds so that the server fails it: with the client's
    /// query's own error if the query is bad, else with "already exists", which is
    /// shown as `failure` says (PostgreSQL too checks the query first).
    FailingParse {
        failure: ParseFailure,
    },
    /// BindComplete; `statement` is the shared statement bound, whose plan PostgreSQL
    /// revalidates at Bind.
    BindComplete {
        statement: Option<u64>,
    },
    CloseComplete,
    /// CloseComplete for a Close sluice injected: not shown to the client.
    InjectedClose {
        statement: u64,
    },
    /// Describe of a statement: ParameterDescription, then RowDescription or NoData.
    DescribeStatement,
    /// Describe of a portal: RowDescription or NoData.
    DescribePortal,
    /// Execute: rows, then CommandComplete, EmptyQueryResponse or PortalSuspended.
    Execute {
        statement: Option<u64>,
        commands: Option<Arc<[SessionCommand]>>,
    },
    /// Sync: ReadyForQuery. `since`: when the client's Sync came, for the query time.
    Sync {
        since: Instant,
    },
    /// A simple Query or FunctionCall: everything up to ReadyForQuery. `since`: when
    /// it came, for the query time.
    SimpleQuery {
        commands: Option<Arc<[SessionCommand]>>,
        failed: bool,
        since: Instant,
    },
    /// sluice's own simple query (settings replay): swallowed up to ReadyForQuery.
    Internal {
        failed: bool,
    },
    /// A message sluice answers itself, sent when it reaches the head.
    Local {
        reply: Bytes,
        change: ViewChange,
    },
    /// A simple query sluice answers itself (DEALLOCATE, DISCARD ALL of its own
    /// statement names): the server is sent an empty query in its place, so that it
    /// drops the unnamed statement and portal and reports the transaction status as
    /// for any query, and its EmptyQueryResponse is shown as `reply`.
    StandInQuery {
        reply: Bytes,
        change: ViewChange,
    },
    /// Where the client ended a COPY (CopyDone or CopyFail); no reply. Marks which Syncs
    /// the server ignores because they arrived during copy-in.
    CopyEnd,
}

/// Why a client's Parse fails once its query has passed the server's checks.
#[derive(Debug)]
pub enum ParseFailure {
    /// The client already has a statement of this name.
    NameInUse(Bytes),
    /// The client holds `max_prepared_statements` statements already.
    TooManyStatements(usize),
}

impl ParseFailure {
    /// The error the client is shown: SQLSTATE and message.
    pub fn error(&self) -> (&'static str, String) {
        match self {
            ParseFailure::NameInUse(name) => (
                "42P05",
                format!(
                    "prepared statement \"{}\" already exists",
                    String::from_utf8_lossy(name)
                ),
            ),
            ParseFailure::TooManyStatements(limit) => (
                "53400",
                format!(
                    "too many prepared statements: this connection holds {limit}, the \
                     database's max_prepared_statements; deallocate some first"
                ),
            ),
        }
    }
}

impl Expect {
    /// A client's Sync, come now.
    pub fn sync() -> Self {
        Expect::Sync {
            since: Instant::now(),
        }
    }

    /// A client's simple Query or FunctionCall, come now.
    pub fn simple_query(commands: Option<Arc<[SessionCommand]>>) -> Self {
        Expect::SimpleQuery {
            commands,
            failed: false,
            since: Instant::now(),
        }
    }

    /// Answered by sluice, not the server.
    pub fn is_local(&self) -> bool {
        matches!(self, Expect::Local { .. } | Expect::CopyEnd)
    }

    /// Whether the message behind it changed prepared statements: a name in the
    /// client's view, or a statement the server holds (a Parse or Close, the client's
    /// or sluice's own).
    fn changes_statements(&self) -> bool {
        match self {
            Expect::ParseComplete {
                statement: Some(_), ..
            }
            | Expect::InjectedParse { .. }
            | Expect::InjectedClose { .. } => true,
            Expect::ParseComplete { change, .. }
            | Expect::Local { change, .. }
            | Expect::StandInQuery { change, .. } => change.changes_names(),
            _ => false,
        }
    }

    /// A command the server runs that drops every statement of the client's when it
    /// completes (DISCARD ALL, DEALLOCATE ALL).
    fn clears_names(&self) -> bool {
        let commands = match self {
            Expect::SimpleQuery { commands, .. } | Expect::Execute { commands, .. } => commands,
            _ => return false,
        };
        commands.as_deref().is_some_and(|cmds| {
            cmds.iter().any(|c| {
                matches!(
                    c,
                    SessionCommand::DiscardAll | SessionCommand::DeallocateAll
                )
            })
        })
    }

    fn affects_statements(&self) -> bool {
        self.changes_statements() || self.clears_names()
    }

    /// What translating the message changed in the client's view, to undo it.
    pub fn into_change(self) -> ViewChange {
        match self {
            Expect::ParseComplete { change, .. }
            | Expect::Local { change, .. }
            | Expect::StandInQuery { change, .. } => change,
            _ => ViewChange::None,
        }
    }

    /// Whether the server's answer to it ends with ReadyForQuery.
    pub fn ends_batch(&self) -> bool {
        matches!(
            self,
            Expect::Sync { .. } | Expect::SimpleQuery { .. } | Expect::StandInQuery { .. }
        )
    }

    /// A reply sluice gives itself, changing nothing in the client's view.
    #[cfg(test)]
    pub fn local(reply: Bytes) -> Self {
        Expect::Local {
            reply,
            change: ViewChange::None,
        }
    }
}

/// Where the client's latest message left the server: between batches, or inside one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Batch {
    /// The latest message ended a batch (Sync, a simple Query): once nothing is owed,
    /// the server connection can serve another client.
    #[default]
    Closed,
    /// Extended-protocol messages were sent without the Sync that ends them: the
    /// server holds this client's implicit transaction, unnamed statement and portals.
    Open,
    /// A request of the open batch failed and its Sync has not been sent yet: the
    /// server discards whatever comes before that Sync.
    Discarding,
}

#[derive(Debug, Default)]
pub struct Pipeline {
    queue: VecDeque<Expect>,
    batch: Batch,
    /// How many queued expectations change or clear prepared statements.
    statement_changes: usize,
    /// Nothing was sent to the server since its latest Sync or Flush that would wait
    /// in the server's output buffer: every reply owed is on its way.
    flushed: bool,
}

impl Pipeline {
    /// Appends the expectation of a message sent to the server (or answered locally).
    /// While [`discarding`](Self::discarding), only a Sync may be pushed: the caller
    /// drops every other message, as the server would.
    pub fn push(&mut self, e: Expect) {
        debug_assert!(
            self.batch != Batch::Discarding || matches!(e, Expect::Sync { .. }),
            "pushed {e:?} while discarding"
        );
        match e {
            Expect::Sync { .. } | Expect::SimpleQuery { .. } | Expect::StandInQuery { .. } => {
                self.batch = Batch::Closed
            }
            Expect::Internal { .. } | Expect::CopyEnd => {}
            _ => self.batch = Batch::Open,
        }
        self.statement_changes += usize::from(e.affects_statements());
        self.flushed = matches!(e, Expect::Sync { .. });
        self.queue.push_back(e);
    }

    /// The client sent an extended-protocol message that earns no reply (Flush).
    pub fn open_batch(&mut self) {
        if self.batch == Batch::Closed {
            self.batch = Batch::Open;
        }
        self.flushed = true;
    }

    /// Replies are owed that the server keeps in its output buffer until a Sync or a
    /// Flush: sluice must send a Flush before it waits for them.
    pub fn needs_flush(&self) -> bool {
        !self.flushed && self.awaits_server()
    }

    /// sluice sent a Flush of its own.
    pub fn flush_sent(&mut self) {
        self.flushed = true;
    }

    pub fn head(&self) -> Option<&Expect> {
        self.queue.front()
    }

    pub fn head_mut(&mut self) -> Option<&mut Expect> {
        self.queue.front_mut()
    }

    pub fn pop(&mut self) -> Option<Expect> {
        let e = self.queue.pop_front()?;
        self.statement_changes -= usize::from(e.affects_statements());
        Some(e)
    }

    /// A message that names a statement must wait: a batch ended by a queued Sync
    /// changed prepared statements and the server has not confirmed it yet, or a
    /// command that clears them has not completed.
    pub fn statements_unconfirmed(&self) -> bool {
        if self.statement_changes == 0 {
            return false;
        }
        let mut changed = false;
        for e in &self.queue {
            if e.clears_names() || (changed && matches!(e, Expect::Sync { .. })) {
                return true;
            }
            changed |= e.changes_statements();
        }
        false
    }

    /// Nothing is owed to the client.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Frees the queue's memory while nothing is queued (an idle session keeps none).
    pub fn release_memory(&mut self) {
        if self.queue.is_empty() {
            self.queue = VecDeque::new();
        }
    }

    /// Nothing is owed and the client is between batches: the connection is in a state
    /// another client (or sluice's own clean-up) can use.
    pub fn is_settled(&self) -> bool {
        self.queue.is_empty() && self.batch == Batch::Closed
    }

    /// The server discards client messages until the next Sync it reads.
    pub fn discarding(&self) -> bool {
        self.batch == Batch::Discarding
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// The request at the head failed in the extended protocol: the server discards
    /// everything up to the next Sync. Removes those expectations (the head's included)
    /// and returns them head first, so the caller can undo what translating them did.
    /// With no Sync queued yet, the discard goes on into messages not yet sent.
    pub fn discard_to_sync(&mut self) -> std::collections::vec_deque::Drain<'_, Expect> {
        let n = match self
            .queue
            .iter()
            .position(|e| matches!(e, Expect::Sync { .. }))
        {
            Some(n) => n,
            None => {
                self.batch = Batch::Discarding;
                self.queue.len()
            }
        };
        self.statement_changes -= self
            .queue
            .range(..n)
            .filter(|e| e.affects_statements())
            .count();
        self.queue.drain(..n)
    }

    /// The server entered copy-in mode, in which it ignores Sync until the client's
    /// CopyDone or CopyFail: drops the Syncs queued before that point. Returns whether
    /// the client's end of COPY was already seen (its marker is removed too).
    pub fn enter_copy_in(&mut self) -> bool {
        let end = self.queue.iter().position(|e| matches!(e, Expect::CopyEnd));
        let limit = end.unwrap_or(self.queue.len());
        let mut i = 1;
        let mut limit = limit;
        while i < limit {
            if matches!(self.queue[i], Expect::Sync { .. }) {
                self.queue.remove(i);
                limit -= 1;
            } else {
                i += 1;
            }
        }
        if end.is_some() {
            self.queue.remove(limit);
            true
        } else {
            false
        }
    }

    /// The server went away: every expectation, head first. The batch stays as the
    /// client's messages left it.
    pub fn take_all(&mut self) -> VecDeque<Expect> {
        self.statement_changes = 0;
        self.flushed = true;
        std::mem::take(&mut self.queue)
    }

    /// The client's latest message ended a batch (a Sync or a simple Query).
    pub fn batch_is_closed(&self) -> bool {
        self.batch == Batch::Closed
    }

    /// Whether anything is still owed by the server (not by sluice).
    pub fn awaits_server(&self) -> bool {
        self.queue.iter().any(|e| !e.is_local())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execute() -> Expect {
        Expect::Execute {
            statement: None,
            commands: None,
        }
    }

    #[test]
    fn discard_to_sync_keeps_the_sync_and_later_batches() {
        let mut p = Pipeline::default();
        p.push(Expect::BindComplete { statement: None });
        p.push(execute());
        p.push(Expect::local(Bytes::from_static(b"1\0\0\0\x04")));
        p.push(Expect::simple_query(None));
        p.push(Expect::sync());
        p.push(Expect::BindComplete { statement: None });
        let dropped: Vec<_> = p.discard_to_sync().collect();
        // A simple Query before the Sync is discarded by the server too.
        assert_eq!(dropped.len(), 4);
        assert!(!p.discarding());
        assert!(matches!(p.pop(), Some(Expect::Sync { .. })));
        assert!(matches!(p.pop(), Some(Expect::BindComplete { .. })));
        // Nothing is owed, but the Bind's batch is still open on the server.
        assert!(p.is_empty());
        assert!(!p.is_settled());
    }

    #[test]
    fn a_batch_is_open_until_its_sync() {
        let mut p = Pipeline::default();
        assert!(p.is_settled());
        p.open_batch(); // Flush
        assert!(!p.is_settled());
        p.push(Expect::sync());
        p.pop();
        assert!(p.is_settled());
        p.push(Expect::simple_query(None));
        p.pop();
        assert!(p.is_settled());
    }

    #[test]
    fn an_error_before_its_sync_was_sent_discards_until_that_sync() {
        let mut p = Pipeline::default();
        p.push(Expect::BindComplete { statement: None });
        p.push(execute());
        assert_eq!(p.discard_to_sync().count(), 2);
        assert!(p.is_empty());
        assert!(p.discarding());
        // Nothing is owed, but the server is not ready for another client.
        assert!(!p.is_settled());
        p.push(Expect::sync());
        assert!(!p.discarding());
        assert!(matches!(p.pop(), Some(Expect::Sync { .. })));
        assert!(p.is_settled());
    }

    #[test]
    fn a_later_batch_waits_for_unconfirmed_name_changes() {
        let defined = || Expect::ParseComplete {
            statement: Some(1),
            change: ViewChange::Defined {
                name: Bytes::from_static(b"s1"),
            },
        };
        let mut p = Pipeline::default();
        p.push(defined());
        // Same batch: no wait.
        assert!(!p.statements_unconfirmed());
        p.push(Expect::sync());
        assert!(p.statements_unconfirmed());
        p.pop();
        assert!(!p.statements_unconfirmed());
        p.pop();
        p.push(defined());
        p.push(Expect::sync());
        assert_eq!(p.discard_to_sync().count(), 1);
        assert!(!p.statements_unconfirmed());
        p.pop();

        // DEALLOCATE ALL changes the names when it completes: everything after waits.
        p.push(Expect::simple_query(Some(Arc::from([
            SessionCommand::DeallocateAll,
        ]))));
        assert!(p.statements_unconfirmed());
        p.pop();
        assert!(!p.statements_unconfirmed());
    }

    #[test]
    fn copy_in_drops_the_syncs_sent_before_copy_done() {
        let mut p = Pipeline::default();
        p.push(execute());
        p.push(Expect::sync()); // sent with the Execute, ignored during copy-in
        p.push(Expect::CopyEnd);
        p.push(Expect::sync()); // after CopyDone: answered
        assert!(p.enter_copy_in());
        assert!(matches!(p.pop(), Some(Expect::Execute { .. })));
        assert!(matches!(p.pop(), Some(Expect::Sync { .. })));
        assert!(p.is_empty());

        let mut p = Pipeline::default();
        p.push(execute());
        p.push(Expect::sync());
        assert!(!p.enter_copy_in());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn local_entries_do_not_await_the_server() {
        let mut p = Pipeline::default();
        p.push(Expect::local(Bytes::from_static(b"3\0\0\0\x04")));
        p.push(Expect::CopyEnd);
        assert!(!p.awaits_server());
        p.push(Expect::sync());
        assert!(p.awaits_server());
    }
}
