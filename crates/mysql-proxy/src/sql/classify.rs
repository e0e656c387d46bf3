//! What a client's query means for its server connection, read from its tokens: each
//! statement (split on `;`) is harmless, pins the client (session state that session
//! tracking does not report, so sluice cannot replay it), is a `KILL` sluice carries
//! out itself, or is refused. Words inside strings, quoted identifiers and comments
//! never count; words inside executed comments (`/*! */`) do. When unsure, pin.

use super::lexer::{Lexer, Quoting, Token};
use crate::state::pin::{PinReason, Refusal};

/// What sluice does with a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Runs on any server connection; what it changes, the server reports.
    Harmless,
    /// Runs, and the client keeps its server connection from then on.
    Pin(PinReason),
    /// Answered with an error; never sent to the server.
    Refuse(Refusal),
    /// `KILL [QUERY|CONNECTION] id` with a sluice connection id, for the kill registry.
    Kill { id: u32, connection: bool },
}

impl Verdict {
    fn rank(self) -> u8 {
        match self {
            Verdict::Harmless => 0,
            Verdict::Pin(_) => 1,
            Verdict::Kill { .. } => 2,
            Verdict::Refuse(_) => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub verdict: Verdict,
    /// The query reads `LAST_INSERT_ID()` or `@@identity` (sluice sets it first).
    pub reads_last_insert_id: bool,
}

/// Classifies a query. Text with a backslash is read the three ways a server may read
/// it (backslash escapes on, off, off inside `"..."` only) and the most cautious
/// verdict wins; a `KILL` that only some readings see is refused.
pub fn classify(sql: &[u8]) -> Classification {
    if memchr::memchr(b'\\', sql).is_none() {
        return classify_with(sql, Quoting::DEFAULT);
    }
    let readings = Quoting::ALL.map(|q| classify_with(sql, q));
    let reads_last_insert_id = readings.iter().any(|c| c.reads_last_insert_id);
    let first = readings[0].verdict;
    let verdict = if readings.iter().all(|c| c.verdict == first) {
        first
    } else if readings
        .iter()
        .any(|c| matches!(c.verdict, Verdict::Kill { .. }))
        && !readings
            .iter()
            .any(|c| matches!(c.verdict, Verdict::Refuse(_)))
    {
        Verdict::Refuse(Refusal::KillUnreadable)
    } else {
        readings
            .iter()
            .map(|c| c.verdict)
            .fold(
                Verdict::Harmless,
                |a, b| if b.rank() > a.rank() { b } else { a },
            )
    };
    Classification {
        verdict,
        reads_last_insert_id,
    }
}

/// Tokens of a statement's start kept for the rules that read it.
const HEAD: usize = 8;

/// One statement as it is read.
struct Statement<'a> {
    head: [Token<'a>; HEAD],
    /// Tokens of the statement so far (or of its inner statement after
    /// `SET STATEMENT ... FOR`).
    len: usize,
    /// Inside `SET STATEMENT ... FOR`.
    inner: bool,
    depth: usize,
    prev: Option<Token<'a>>,
    /// `LAST_INSERT_ID(` was just read: an argument sets it.
    after_last_insert_id: bool,
    saw_user_var: bool,
    saw_lock_word: bool,
    pin: Option<PinReason>,
    refuse: Option<Refusal>,
}

impl<'a> Statement<'a> {
    fn new() -> Self {
        Self {
            head: [Token::Param; HEAD],
            len: 0,
            inner: false,
            depth: 0,
            prev: None,
            after_last_insert_id: false,
            saw_user_var: false,
            saw_lock_word: false,
            pin: None,
            refuse: None,
        }
    }

    fn word(&self, i: usize) -> Option<&'a [u8]> {
        match self.head.get(i) {
            Some(Token::Word(w)) if i < self.len => Some(w),
            _ => None,
        }
    }

    fn is(&self, i: usize, kw: &str) -> bool {
        self.word(i)
            .is_some_and(|w| w.eq_ignore_ascii_case(kw.as_bytes()))
    }

    fn pin(&mut self, why: PinReason) {
        self.pin.get_or_insert(why);
    }

    fn push(&mut self, t: Token<'a>, reads_last_insert_id: &mut bool) {
        if self.len < HEAD {
            self.head[self.len] = t;
        }
        self.len += 1;
        let at_start = self.len == 1;
        let is_set = self.is(0, "set");
        match t {
            Token::Punct(b'(') => {
                self.depth += 1;
                self.on_call_of_prev();
            }
            Token::Punct(b')') => self.depth = self.depth.saturating_sub(1),
            Token::Word(w) => self.on_word(w, at_start, reads_last_insert_id),
            Token::UserVar(_) => {
                self.saw_user_var = true;
                if self.prev.is_some_and(|p| p.is_word("into")) {
                    self.pin(PinReason::UserVariable);
                }
            }
            Token::SystemVar(v) => {
                if ends_with_ci(v, b"identity") || ends_with_ci(v, b"last_insert_id") {
                    *reads_last_insert_id = true;
                }
                if is_set && contains_ci(v, b"session_track") {
                    self.pin(PinReason::SessionTracking);
                }
            }
            Token::Operator(op) if op == b":=" || (op == b"=" && is_set) => match self.prev {
                Some(Token::UserVar(_)) => self.pin(PinReason::UserVariable),
                Some(Token::SystemVar(v)) if is_set && is_next_transaction_var(v) => {
                    self.pin(PinReason::NextTransaction)
                }
                _ => {}
            },
            _ => {}
        }
        if self.after_last_insert_id && t != Token::Punct(b'(') {
            self.after_last_insert_id = false;
            if t != Token::Punct(b')') {
                self.pin(PinReason::LastInsertIdSet);
            }
        }
        self.prev = Some(t);
    }

    fn on_word(&mut self, w: &'a [u8], at_start: bool, reads_last_insert_id: &mut bool) {
        let is = |kw: &str| w.eq_ignore_ascii_case(kw.as_bytes());
        let after_dot = self.prev == Some(Token::Punct(b'.'));
        if is("kill") && !after_dot && (self.inner || (!at_start && self.statement_may_start())) {
            // KILL is not a reserved word: `SELECT kill FROM t` names a column.
            self.refuse.get_or_insert(Refusal::KillInsideStatement);
        } else if is("last_insert_id") {
            *reads_last_insert_id = true;
        } else if is("sql_calc_found_rows") {
            self.pin(PinReason::FoundRows);
        } else if is("lock") || is("export") {
            self.saw_lock_word = true;
        } else if is("value") && self.prev.is_some_and(|p| p.is_word("next")) {
            self.pin(PinReason::Sequence);
        } else if is("for") && self.depth == 0 && self.is(0, "set") && self.is(1, "statement") {
            // MariaDB's `SET STATEMENT var = value FOR stmt`: the settings last for
            // the one statement; what follows is read as a statement of its own.
            self.len = 0;
            self.inner = true;
        } else if starts_with_ci(w, b"session_track") && self.is(0, "set") {
            self.pin(PinReason::SessionTracking);
        }
    }

    /// Whether the token before the current one can be followed by a statement of its
    /// own: in a compound statement (`BEGIN`, `THEN`, `ELSE`, `DO`, `LOOP`, `REPEAT`,
    /// `NOT ATOMIC`, a label's `:`), an event's or trigger's body, or `FOR` of
    /// `SET STATEMENT`.
    fn statement_may_start(&self) -> bool {
        match self.prev {
            Some(Token::Operator(b":")) => true,
            Some(t) => [
                "begin", "then", "else", "do", "loop", "repeat", "atomic", "for",
            ]
            .iter()
            .any(|kw| t.is_word(kw)),
            None => false,
        }
    }

    /// At `(`: the word before it is a function being called.
    fn on_call_of_prev(&mut self) {
        let Some(Token::Word(f)) = self.prev else {
            return;
        };
        let is = |kw: &str| f.eq_ignore_ascii_case(kw.as_bytes());
        if is("get_lock") {
            self.pin(PinReason::NamedLock);
        } else if is("found_rows") {
            self.pin(PinReason::FoundRows);
        } else if is("nextval") || is("setval") {
            self.pin(PinReason::Sequence);
        } else if is("last_insert_id") {
            self.after_last_insert_id = true;
        }
    }

    /// What the statement's first words make of it, once it has been read.
    fn finish(&mut self) -> Option<Verdict> {
        if self.len == 0 {
            return None;
        }
        if let Some(r) = self.refuse {
            return Some(Verdict::Refuse(r));
        }
        if self.is(0, "kill") && !self.inner {
            return Some(match self.kill() {
                Ok((id, connection)) => Verdict::Kill { id, connection },
                Err(r) => Verdict::Refuse(r),
            });
        }
        if let Some(why) = self.pin_by_head() {
            self.pin(why);
        }
        Some(self.pin.map_or(Verdict::Harmless, Verdict::Pin))
    }

    fn pin_by_head(&self) -> Option<PinReason> {
        let first = self.word(0)?;
        let is = |kw: &str| first.eq_ignore_ascii_case(kw.as_bytes());
        if self.head.get(1).is_some_and(|t| t.is_op(":")) && self.len > 1 {
            // A label: a MariaDB compound statement outside a stored program.
            return Some(PinReason::Procedure);
        }
        let reason = if is("create") {
            let at = if self.is(1, "or") && self.is(2, "replace") {
                3
            } else {
                1
            };
            self.is(at, "temporary")
                .then_some(PinReason::TemporaryTable)?
        } else if is("drop") {
            if self.is(1, "temporary") {
                PinReason::TemporaryTable
            } else {
                self.is(1, "prepare").then_some(PinReason::SqlPrepare)?
            }
        } else if is("lock") || is("backup") {
            PinReason::TableLock
        } else if is("flush") {
            self.saw_lock_word.then_some(PinReason::TableLock)?
        } else if is("handler") {
            PinReason::Handler
        } else if is("prepare") || is("execute") || is("deallocate") {
            PinReason::SqlPrepare
        } else if is("xa") {
            PinReason::Xa
        } else if is("call") {
            PinReason::Procedure
        } else if is("begin") {
            self.is(1, "not").then_some(PinReason::Procedure)?
        } else if is("if") || is("while") || is("loop") || is("repeat") || is("case") {
            PinReason::Procedure
        } else if is("load") {
            self.saw_user_var.then_some(PinReason::UserVariable)?
        } else if is("set") {
            if self.is(1, "transaction") {
                PinReason::NextTransaction
            } else {
                self.is(1, "role").then_some(PinReason::Role)?
            }
        } else {
            return None;
        };
        Some(reason)
    }

    /// `KILL [HARD|SOFT] [CONNECTION|QUERY] id`, or why sluice cannot carry it out.
    fn kill(&self) -> Result<(u32, bool), Refusal> {
        let mut i = 1;
        if self.is(i, "hard") || self.is(i, "soft") {
            i += 1;
        }
        let mut connection = true;
        if self.is(i, "connection") {
            i += 1;
        } else if self.is(i, "query") {
            connection = false;
            i += 1;
            if self.is(i, "id") {
                return Err(Refusal::KillQueryId);
            }
        }
        if self.is(i, "user") {
            return Err(Refusal::KillUser);
        }
        match self.head.get(i) {
            Some(Token::Number(n)) if i + 1 == self.len && n.iter().all(u8::is_ascii_digit) => {
                std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .map(|id| (id, connection))
                    .ok_or(Refusal::KillExpression)
            }
            _ => Err(Refusal::KillExpression),
        }
    }
}

fn classify_with(sql: &[u8], quoting: Quoting) -> Classification {
    let mut reads_last_insert_id = false;
    let mut statements = 0usize;
    let mut pin = None;
    let mut refuse = None;
    let mut kill = None;
    let mut unreadable = false;
    let mut current = Statement::new();
    let mut take = |st: &mut Statement<'_>| {
        match st.finish() {
            None => {}
            Some(v) => {
                statements += 1;
                match v {
                    Verdict::Harmless => {}
                    Verdict::Pin(p) => {
                        pin.get_or_insert(p);
                    }
                    Verdict::Refuse(r) => {
                        refuse.get_or_insert(r);
                    }
                    Verdict::Kill { .. } => {
                        kill.get_or_insert(v);
                    }
                }
            }
        }
        *st = Statement::new();
    };
    for t in Lexer::new(sql, quoting) {
        match t {
            Ok(t) if t.token == Token::Punct(b';') => take(&mut current),
            Ok(t) => current.push(t.token, &mut reads_last_insert_id),
            Err(_) => {
                unreadable = true;
                break;
            }
        }
    }
    take(&mut current);
    let verdict = if let Some(r) = refuse {
        Verdict::Refuse(r)
    } else if let Some(k) = kill {
        if unreadable {
            Verdict::Refuse(Refusal::KillUnreadable)
        } else if statements > 1 {
            Verdict::Refuse(Refusal::KillInMultiStatement)
        } else {
            k
        }
    } else if let Some(p) = pin {
        Verdict::Pin(p)
    } else if unreadable {
        Verdict::Pin(PinReason::Unreadable)
    } else {
        Verdict::Harmless
    };
    Classification {
        verdict,
        reads_last_insert_id,
    }
}

/// `@@transaction_isolation` and the like without `session.`/`global.`: the server
/// applies them to the next transaction only.
fn is_next_transaction_var(v: &[u8]) -> bool {
    let name = &v[2..];
    [
        "transaction_isolation",
        "tx_isolation",
        "transaction_read_only",
        "tx_read_only",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

fn ends_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[hay.len() - needle.len()..].eq_ignore_ascii_case(needle)
}

fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
