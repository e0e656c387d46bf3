//! The ordered list of responses a server connection still owes the client. Each request
//! the relay sends (or answers itself) appends what it expects; server messages are
//! matched against the head. This is what lets sluice hide the Parse/Close it injects and
//! answer a client's Parse or Close itself, without disturbing the order of replies.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::settings::SessionCommand;

/// What the next response(s) from the server, or from sluice, will be.
#[derive(Debug)]
pub enum Expect {
    /// ParseComplete for a client's Parse; `statement` is forgotten if the Parse fails.
    ParseComplete {
        statement: Option<u64>,
    },
    /// ParseComplete for a Parse sluice injected: not shown to the client.
    InjectedParse {
        statement: u64,
    },
    /// BindComplete; `statement` is the shared statement bound, whose plan PostgreSQL
    /// revalidates at Bind.
    BindComplete {
        statement: Option<u64>,
    },
    CloseComplete,
    /// CloseComplete for a Close sluice injected: not shown to the client.
    InjectedClose,
    /// Describe of a statement: ParameterDescription, then RowDescription or NoData.
    DescribeStatement,
    /// Describe of a portal: RowDescription or NoData.
    DescribePortal,
    /// Execute: rows, then CommandComplete, EmptyQueryResponse or PortalSuspended.
    Execute {
        statement: Option<u64>,
        commands: Option<Arc<[SessionCommand]>>,
    },
    /// Sync: ReadyForQuery.
    Sync,
    /// A simple Query or FunctionCall: everything up to ReadyForQuery.
    SimpleQuery {
        commands: Option<Arc<[SessionCommand]>>,
        failed: bool,
    },
    /// sluice's own simple query (settings replay): swallowed up to ReadyForQuery.
    Internal {
        failed: bool,
    },
    /// A message sluice answers itself, sent when it reaches the head.
    Local(Bytes),
    /// A ReadyForQuery sluice answers itself, with the transaction status at that point.
    LocalReady,
    /// Where the client ended a COPY (CopyDone or CopyFail); no reply. Marks which Syncs
    /// the server ignores because they arrived during copy-in.
    CopyEnd,
}

impl Expect {
    /// Answered by sluice, not the server.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            Expect::Local(_) | Expect::LocalReady | Expect::CopyEnd
        )
    }
}

#[derive(Debug, Default)]
pub struct Pipeline {
    queue: VecDeque<Expect>,
}

impl Pipeline {
    pub fn push(&mut self, e: Expect) {
        self.queue.push_back(e);
    }

    pub fn head(&self) -> Option<&Expect> {
        self.queue.front()
    }

    pub fn head_mut(&mut self) -> Option<&mut Expect> {
        self.queue.front_mut()
    }

    pub fn pop(&mut self) -> Option<Expect> {
        self.queue.pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// After an error in the extended protocol the server skips everything up to Sync:
    /// drop those expectations (their replies never come). Returns the dropped entries so
    /// the caller can undo bookkeeping (statements that were never prepared).
    pub fn skip_to_sync(&mut self) -> impl Iterator<Item = Expect> + '_ {
        let n = self
            .queue
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Expect::Sync | Expect::SimpleQuery { .. } | Expect::Internal { .. }
                )
            })
            .unwrap_or(self.queue.len());
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
            if matches!(self.queue[i], Expect::Sync) {
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

    /// Whether anything is still owed by the server (not by sluice).
    pub fn awaits_server(&self) -> bool {
        self.queue.iter().any(|e| !e.is_local())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_to_sync_keeps_the_sync_and_later_batches() {
        let mut p = Pipeline::default();
        p.push(Expect::BindComplete { statement: None });
        p.push(Expect::Execute {
            statement: None,
            commands: None,
        });
        p.push(Expect::Local(Bytes::from_static(b"1\0\0\0\x04")));
        p.push(Expect::Sync);
        p.push(Expect::BindComplete { statement: None });
        let dropped: Vec<_> = p.skip_to_sync().collect();
        assert_eq!(dropped.len(), 3);
        assert!(matches!(p.pop(), Some(Expect::Sync)));
        assert!(matches!(p.pop(), Some(Expect::BindComplete { .. })));
        assert!(p.is_empty());
    }

    #[test]
    fn copy_in_drops_the_syncs_sent_before_copy_done() {
        let mut p = Pipeline::default();
        p.push(Expect::Execute {
            statement: None,
            commands: None,
        });
        p.push(Expect::Sync); // sent with the Execute, ignored during copy-in
        p.push(Expect::CopyEnd);
        p.push(Expect::Sync); // after CopyDone: answered
        assert!(p.enter_copy_in());
        assert!(matches!(p.pop(), Some(Expect::Execute { .. })));
        assert!(matches!(p.pop(), Some(Expect::Sync)));
        assert!(p.is_empty());

        let mut p = Pipeline::default();
        p.push(Expect::Execute {
            statement: None,
            commands: None,
        });
        p.push(Expect::Sync);
        assert!(!p.enter_copy_in());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn local_entries_do_not_await_the_server() {
        let mut p = Pipeline::default();
        p.push(Expect::LocalReady);
        assert!(!p.awaits_server());
        p.push(Expect::Sync);
        assert!(p.awaits_server());
    }
}
