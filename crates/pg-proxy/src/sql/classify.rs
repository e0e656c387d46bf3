//! What a query string does to the session of the server connection it runs on, in the
//! terms transaction mode needs: settings that sluice carries to the next server
//! connection (*movable* state, `SessionCommand`), and state that cannot move, which
//! keeps the client on its server connection until it leaves (*pinning*, `PinReason`).
//! Anything this cannot read for sure pins: a function it does not know, a statement it
//! cannot parse. Works on the lexer's tokens, never on substrings.

use smallvec::SmallVec;

use super::builtin_functions::{is_builtin, is_builtin_quoted};
use super::lexer::{Lexer, Spanned, Token};
use super::trusted::TrustedFunctions;
use super::words::{is_one_of, session_function, DECLARING, NOT_FUNCTIONS};
use crate::state::pin::{PinReason, Refusal};
use crate::state::settings::{SessionCommand, SettingValue};

/// What one query string (one or more statements) does to the session.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueryEffects {
    /// Movable commands, in order.
    pub commands: Vec<SessionCommand>,
    /// The first reason to pin, if any.
    pub pin: Option<PinReason>,
    /// Why the query may not run as sent in transaction mode, if so.
    pub refuse: Option<Refusal>,
}

impl QueryEffects {
    fn pin(&mut self, why: PinReason) {
        self.pin.get_or_insert(why);
    }
}

/// Classifies `sql`; `backslash_escapes`: the session has `standard_conforming_strings`
/// off; `trusted`: functions besides PostgreSQL's own whose calls do not pin.
pub fn classify_query(
    sql: &str,
    backslash_escapes: bool,
    trusted: &TrustedFunctions,
) -> QueryEffects {
    let mut effects = QueryEffects::default();
    let mut lexer = Lexer::with_backslash_escapes(sql, backslash_escapes);
    // Statements are short: their tokens stay on the stack.
    let mut tokens: SmallVec<[Spanned; 32]> = SmallVec::new();
    loop {
        match lexer.next_spanned() {
            Some(Ok(t)) if t.token == Token::Punct(b';') => {
                Statement {
                    sql,
                    tokens: &tokens,
                    trusted,
                }
                .classify(&mut effects);
                tokens.clear();
            }
            Some(Ok(t)) => tokens.push(t),
            Some(Err(_)) => {
                effects.pin(PinReason::Unreadable);
                return effects;
            }
            None => {
                Statement {
                    sql,
                    tokens: &tokens,
                    trusted,
                }
                .classify(&mut effects);
                return effects;
            }
        }
    }
}

/// Statements longer than this (in tokens) are not searched for CTE column lists.
const MAX_TOKENS_FOR_CTE_NAMES: usize = 2048;

/// One statement's tokens, without its `;`.
struct Statement<'s, 'a> {
    sql: &'a str,
    tokens: &'s [Spanned<'a>],
    trusted: &'s TrustedFunctions,
}

impl<'a> Statement<'_, 'a> {
    fn token(&self, i: usize) -> Option<Token<'a>> {
        self.tokens.get(i).map(|t| t.token)
    }

    fn is(&self, i: usize, kw: &str) -> bool {
        self.token(i).is_some_and(|t| t.is_word(kw))
    }

    /// The statement's text from token `i` to its end.
    fn text_from(&self, i: usize) -> &'a str {
        match (self.tokens.get(i), self.tokens.last()) {
            (Some(first), Some(last)) => &self.sql[first.start..last.end],
            _ => "",
        }
    }

    fn classify(&self, effects: &mut QueryEffects) {
        let Some(first) = self.token(0) else {
            return;
        };
        if let Some(refusal) = self.refusal() {
            effects.refuse.get_or_insert(refusal);
        }
        let is = |kw: &str| first.is_word(kw);
        if is("set") {
            self.classify_set(effects);
        } else if is("reset") {
            self.classify_reset(effects);
        } else if is("discard") && self.is(1, "all") && self.tokens.len() == 2 {
            effects.commands.push(SessionCommand::DiscardAll);
        } else if is("listen") {
            effects.pin(PinReason::Listen);
        } else if is("load") {
            effects.pin(PinReason::Load);
        } else if is("do") || is("call") {
            effects.pin(PinReason::UnknownFunction);
        } else if (is("prepare") && !self.is(1, "transaction")) || is("execute") {
            // PREPARE TRANSACTION ends the transaction for two-phase commit instead.
            effects.pin(PinReason::SqlPrepare);
        } else if is("deallocate") {
            self.classify_deallocate(effects);
        } else if is("declare") {
            if (1..self.tokens.len()).any(|i| self.is(i - 1, "with") && self.is(i, "hold")) {
                effects.pin(PinReason::HoldCursor);
            }
            self.scan_calls(1, effects);
        } else if is("create") {
            self.find_temporary(effects);
            // A definition runs none of the calls in it, except the query of a
            // CREATE TABLE/MATERIALIZED VIEW ... AS, a partition's bounds, and an
            // index's expressions and predicate (run on every row as it is built).
            if let Some(at) = self.query_after_as() {
                self.scan_calls(at, effects);
            }
            let index = self.is(1, "index") || (self.is(1, "unique") && self.is(2, "index"));
            if index {
                // From the key list on: `ON table [USING method] (` reads as calls.
                let on = (1..self.tokens.len()).find(|&i| self.is(i, "on"));
                let keys = on.and_then(|on| {
                    (on..self.tokens.len()).find(|&i| self.token(i) == Some(Token::Punct(b'(')))
                });
                self.scan_calls(keys.unwrap_or(1), effects);
            } else if let Some(at) =
                (1..self.tokens.len()).find(|&i| self.is(i - 1, "for") && self.is(i, "values"))
            {
                self.scan_calls(at, effects);
            }
        } else {
            self.find_temporary(effects);
            self.scan_calls(0, effects);
        }
    }

    /// What the statement touches of other clients' statements, if anything.
    fn refusal(&self) -> Option<Refusal> {
        let named = |t: Option<Token<'_>>, name: &str| match t {
            Some(Token::Word(w)) => w.eq_ignore_ascii_case(name),
            Some(Token::QuotedIdent(q)) => q == name,
            _ => false,
        };
        let reserved = |t: Option<Token<'_>>| match t {
            Some(Token::Word(w)) => w
                .as_bytes()
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"sluice_")),
            Some(Token::QuotedIdent(q)) => q.starts_with("sluice_"),
            _ => false,
        };
        for i in 0..self.tokens.len() {
            let t = self.token(i);
            if named(t, "pg_prepared_statements") || named(t, "pg_prepared_statement") {
                return Some(Refusal::SharedStatementsView);
            }
            if self.is(i, "prepare") || self.is(i, "execute") || self.is(i, "deallocate") {
                let at = if self.is(i + 1, "prepare") {
                    i + 2
                } else {
                    i + 1
                };
                if reserved(self.token(at)) {
                    return Some(Refusal::ReservedStatementName);
                }
            }
        }
        None
    }

    fn classify_set(&self, effects: &mut QueryEffects) {
        let mut i = 1;
        if self.is(i, "local") {
            // Lasts until the end of the transaction: nothing follows the client.
            return;
        }
        if self.is(i, "session") {
            i += 1;
            if self.is(i, "authorization") {
                return effects.pin(PinReason::SessionAuthorization);
            }
            if self.is(i, "characteristics") {
                return effects.pin(PinReason::SessionCharacteristics);
            }
        }
        let Some(word) = self.token(i) else {
            return effects.pin(PinReason::Unreadable);
        };
        let (name, value_at) = match word {
            t if t.is_word("transaction") || t.is_word("constraints") => return,
            t if t.is_word("role") => return effects.pin(PinReason::SetRole),
            t if t.is_word("time") && self.is(i + 1, "zone") => ("timezone".to_owned(), i + 2),
            t if t.is_word("names") => ("client_encoding".to_owned(), i + 1),
            t if t.is_word("schema") => ("search_path".to_owned(), i + 1),
            _ => {
                let Some((name, after)) = self.setting_name(i) else {
                    return effects.pin(PinReason::Unreadable);
                };
                let to = self.is(after, "to") || self.token(after) == Some(Token::Operator("="));
                if !to {
                    return effects.pin(PinReason::Unreadable);
                }
                (name, after + 1)
            }
        };
        // PostgreSQL matches setting names in any case, quoted or not.
        if name.eq_ignore_ascii_case("role") {
            return effects.pin(PinReason::SetRole);
        }
        if name.eq_ignore_ascii_case("session_authorization") {
            return effects.pin(PinReason::SessionAuthorization);
        }
        let value = self.text_from(value_at);
        if value.is_empty() {
            return effects.pin(PinReason::Unreadable);
        }
        if name == "search_path" && self.names_temp_schema(value_at) {
            // Tables created without a schema would then be temporary ones.
            return effects.pin(PinReason::TemporaryObject);
        }
        let to_default = self.tokens.len() == value_at + 1
            && (self.is(value_at, "default") || (name == "timezone" && self.is(value_at, "local")));
        effects.commands.push(if to_default {
            SessionCommand::Reset { name }
        } else {
            SessionCommand::Set {
                name,
                value: SettingValue::Sql(value.to_owned()),
            }
        });
    }

    /// A setting's name at token `i` (`work_mem`, `"Work_Mem"`, `myapp.user_id`),
    /// lowercased unless quoted, and the index after it.
    fn setting_name(&self, mut i: usize) -> Option<(String, usize)> {
        let mut name = String::new();
        loop {
            match self.token(i)? {
                Token::Word(w) => name.push_str(&w.to_ascii_lowercase()),
                Token::QuotedIdent(q) => name.push_str(&q.replace("\"\"", "\"")),
                _ => return None,
            }
            i += 1;
            if self.token(i) != Some(Token::Punct(b'.')) {
                return Some((name, i));
            }
            name.push('.');
            i += 1;
        }
    }

    fn classify_reset(&self, effects: &mut QueryEffects) {
        if self.is(1, "all") && self.tokens.len() == 2 {
            return effects.commands.push(SessionCommand::ResetAll);
        }
        // RESET ROLE and RESET SESSION AUTHORIZATION return to what the login had:
        // nothing to carry (a client that had changed either is pinned).
        if self.is(1, "role") || self.is(1, "session") {
            return;
        }
        let name = match self.token(1) {
            Some(t) if t.is_word("time") && self.is(2, "zone") => Some(("timezone".into(), 3)),
            _ => self.setting_name(1),
        };
        match name {
            Some((name, end)) if end == self.tokens.len() => {
                effects.commands.push(SessionCommand::Reset { name })
            }
            _ => effects.pin(PinReason::Unreadable),
        }
    }

    fn classify_deallocate(&self, effects: &mut QueryEffects) {
        let mut i = 1;
        if self.is(i, "prepare") {
            i += 1;
        }
        if self.tokens.len() != i + 1 {
            return effects.pin(PinReason::Unreadable);
        }
        effects.commands.push(match self.token(i) {
            Some(t) if t.is_word("all") => SessionCommand::DeallocateAll,
            Some(Token::Word(w)) => SessionCommand::Deallocate {
                name: w.to_ascii_lowercase(),
            },
            Some(Token::QuotedIdent(q)) => SessionCommand::Deallocate {
                name: q.replace("\"\"", "\""),
            },
            _ => return effects.pin(PinReason::Unreadable),
        });
    }

    /// `CREATE TEMP ...`, `SELECT ... INTO TEMP ...`, anything in `pg_temp.`: pins,
    /// unless the object goes at commit (`ON COMMIT DROP`).
    fn find_temporary(&self, effects: &mut QueryEffects) {
        let n = self.tokens.len();
        let temporary = (0..n).any(|i| {
            let temp_word = (self.is(i, "temp") || self.is(i, "temporary"))
                && i > 0
                && ["create", "global", "local", "into", "replace"]
                    .iter()
                    .any(|kw| self.is(i - 1, kw));
            let temp_schema =
                is_temp_schema(self.token(i)) && self.token(i + 1) == Some(Token::Punct(b'.'));
            temp_word || temp_schema
        });
        let dropped_at_commit =
            (2..n).any(|i| self.is(i - 2, "on") && self.is(i - 1, "commit") && self.is(i, "drop"));
        if temporary && !dropped_at_commit {
            effects.pin(PinReason::TemporaryObject);
        }
    }

    /// Whether a `search_path` value from token `from` on names the temporary schema,
    /// as a word, a quoted name, or inside a string (`'pg_temp, public'`).
    fn names_temp_schema(&self, from: usize) -> bool {
        (from..self.tokens.len()).any(|i| match self.token(i) {
            Some(Token::Literal(l)) => l
                .split(|c: char| c == ',' || c == '\'' || c == '"' || c.is_whitespace())
                .any(|part| is_temp_schema_name(part, true)),
            t => is_temp_schema(t),
        })
    }

    /// The token after a `CREATE ... AS` that starts the query it runs, if any.
    fn query_after_as(&self) -> Option<usize> {
        (1..self.tokens.len()).find(|&i| {
            self.is(i - 1, "as")
                && (self.is(i, "select")
                    || self.is(i, "with")
                    || self.is(i, "values")
                    || self.is(i, "table")
                    || self.is(i, "execute")
                    || self.token(i) == Some(Token::Punct(b'(')))
        })
    }

    /// Every `name(` from token `from` on that calls a function.
    fn scan_calls(&self, from: usize, effects: &mut QueryEffects) {
        for i in from..self.tokens.len() {
            if self.token(i + 1) != Some(Token::Punct(b'(')) {
                continue;
            }
            let qualified = i >= 2 && self.token(i - 1) == Some(Token::Punct(b'.'));
            let before = if qualified {
                i.checked_sub(3)
            } else {
                i.checked_sub(1)
            };
            if let Some(Token::Word(w)) = before.and_then(|b| self.token(b)) {
                if is_one_of(w, DECLARING) {
                    continue;
                }
            }
            // PostgreSQL's own session functions pin wherever they stand, even where
            // the CTE reading below could take the name for a CTE's.
            let session_call = match self.token(i) {
                Some(Token::Word(w)) if !qualified || self.is(i - 2, "pg_catalog") => {
                    w.eq_ignore_ascii_case("set_config") || session_function(w).is_some()
                }
                _ => false,
            };
            if !qualified && !session_call && self.is_cte_name(i) {
                continue;
            }
            let known = match self.token(i) {
                Some(Token::Word(w)) if !qualified && is_one_of(w, NOT_FUNCTIONS) => continue,
                Some(Token::Word(w)) => {
                    if qualified && !self.is(i - 2, "pg_catalog") {
                        match self.token(i - 2) {
                            Some(Token::Word(schema)) => self.trusted.trusts(Some(schema), w),
                            _ => false,
                        }
                    } else if w.eq_ignore_ascii_case("set_config") {
                        // Until the end of the transaction with is_local true.
                        if !self.set_config_is_local(i) {
                            effects.pin(PinReason::SessionFunction);
                        }
                        continue;
                    } else if let Some(why) = session_function(w) {
                        effects.pin(why);
                        continue;
                    } else {
                        is_builtin(w) || (!qualified && self.trusted.trusts(None, w))
                    }
                }
                Some(Token::QuotedIdent(q)) => {
                    (!qualified || self.is(i - 2, "pg_catalog")) && is_builtin_quoted(q)
                }
                _ => continue,
            };
            if !known {
                effects.pin(PinReason::UnknownFunction);
            }
        }
    }

    /// Whether the `set_config(name, value, is_local)` at `at` has a literal true
    /// `is_local`, which lasts until the end of the transaction.
    fn set_config_is_local(&self, at: usize) -> bool {
        let mut depth = 0usize;
        let mut last_arg = at + 2;
        for i in at + 1..self.tokens.len() {
            match self.token(i) {
                Some(Token::Punct(b'(')) => depth += 1,
                Some(Token::Punct(b')')) => {
                    depth -= 1;
                    if depth == 0 {
                        return i == last_arg + 1
                            && match self.token(last_arg) {
                                Some(Token::Word(w)) => w.eq_ignore_ascii_case("true"),
                                Some(Token::Literal(l)) => ["'t'", "'true'", "'on'"]
                                    .iter()
                                    .any(|v| l.eq_ignore_ascii_case(v)),
                                _ => false,
                            };
                    }
                }
                Some(Token::Punct(b',')) if depth == 1 => last_arg = i + 1,
                _ => {}
            }
        }
        false
    }
}

/// `pg_temp`, or a backend's own `pg_temp_N`: the session's temporary schema.
fn is_temp_schema(t: Option<Token<'_>>) -> bool {
    match t {
        Some(Token::Word(w)) => is_temp_schema_name(w, true),
        Some(Token::QuotedIdent(q)) => is_temp_schema_name(q, false),
        _ => false,
    }
}

fn is_temp_schema_name(name: &str, any_case: bool) -> bool {
    let b = name.as_bytes();
    let prefix = b.get(..7).is_some_and(|p| {
        if any_case {
            p.eq_ignore_ascii_case(b"pg_temp")
        } else {
            p == b"pg_temp"
        }
    });
    prefix
        && match &b[7..] {
            [] => true,
            [b'_', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
            _ => false,
        }
}

#[path = "classify_cte.rs"]
mod cte;

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
