//! What a query does to the transaction it runs in, read from its words: whether it is
//! a plain end of the transaction, or surely leaves the transaction open. When the
//! server connection of a transaction is lost, this decides what the client is told:
//! a lost `ROLLBACK` still rolled back, a lost `COMMIT` may or may not have committed,
//! and so may any statement that commits implicitly (DDL, `BEGIN`, `SET autocommit`,
//! `LOCK TABLES`, ...), of which MySQL has too many to list; only statements known
//! never to end a transaction say that the transaction was rolled back.

use super::lexer::{Lexer, Quoting, Token};

/// What a query does to the transaction it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxEffect {
    /// `ROLLBACK [WORK] [AND NO CHAIN] [NO RELEASE]`, alone.
    Rollback,
    /// `COMMIT [WORK] [AND NO CHAIN] [NO RELEASE]`, alone.
    Commit,
    /// Only statements that never end a transaction (queries, DML, savepoints).
    Within,
    /// Anything else: it may end the transaction (an implicit commit, a chained or
    /// releasing end, text that cannot be read).
    MayEnd,
}

/// First words of statements that never end a transaction: they read or change rows
/// (stored functions and triggers may not commit), or work with savepoints.
const WITHIN: [&str; 15] = [
    "select",
    "insert",
    "update",
    "delete",
    "replace",
    "with",
    "values",
    "table",
    "do",
    "savepoint",
    "release",
    "show",
    "explain",
    "describe",
    "desc",
];

/// Reads a query (one or more statements separated by `;`). Text with a backslash is
/// read the ways a server may read it (by its sql_mode); unless they agree, it may end
/// the transaction.
pub fn effect(sql: &[u8]) -> TxEffect {
    let first = effect_with(sql, Quoting::DEFAULT);
    if memchr::memchr(b'\\', sql).is_none()
        || Quoting::ALL.iter().all(|&q| effect_with(sql, q) == first)
    {
        first
    } else {
        TxEffect::MayEnd
    }
}

fn effect_with(sql: &[u8], quoting: Quoting) -> TxEffect {
    let mut statements: Vec<Vec<Token>> = vec![Vec::new()];
    for t in Lexer::new(sql, quoting) {
        let Ok(t) = t else {
            return TxEffect::MayEnd;
        };
        match t.token {
            Token::Punct(b';') => statements.push(Vec::new()),
            token => statements.last_mut().expect("one at least").push(token),
        }
    }
    statements.retain(|s| !s.is_empty());
    if let [only] = statements.as_slice() {
        if let Some(end) = plain_end(only) {
            return end;
        }
    }
    if statements.iter().all(|s| stays_within(s)) {
        TxEffect::Within
    } else {
        TxEffect::MayEnd
    }
}

/// `ROLLBACK` or `COMMIT` with only the words that keep it a plain end.
fn plain_end(tokens: &[Token]) -> Option<TxEffect> {
    let (first, mut rest) = tokens.split_first()?;
    let end = if first.is_word("rollback") {
        TxEffect::Rollback
    } else if first.is_word("commit") {
        TxEffect::Commit
    } else {
        return None;
    };
    for optional in [&["work"][..], &["and", "no", "chain"], &["no", "release"]] {
        if rest.len() >= optional.len() && rest.iter().zip(optional).all(|(t, w)| t.is_word(w)) {
            rest = &rest[optional.len()..];
        }
    }
    rest.is_empty().then_some(end)
}

fn stays_within(tokens: &[Token]) -> bool {
    match tokens {
        [Token::Punct(b'('), ..] => true,
        // ROLLBACK [WORK] TO [SAVEPOINT] name
        [r, w, t, ..] if r.is_word("rollback") && w.is_word("work") => t.is_word("to"),
        [r, t, ..] if r.is_word("rollback") => t.is_word("to"),
        [first, ..] => WITHIN.iter().any(|w| first.is_word(w)),
        [] => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TxEffect::*;

    #[test]
    fn queries_are_read_for_what_they_do_to_the_transaction() {
        let cases = [
            ("ROLLBACK", Rollback),
            ("rollback work;", Rollback),
            (" /* app */ ROLLBACK AND NO CHAIN NO RELEASE ", Rollback),
            ("/*!ROLLBACK*/", Rollback),
            ("COMMIT", Commit),
            ("commit work", Commit),
            ("COMMIT AND NO CHAIN;", Commit),
            ("commit no release", Commit),
            ("SELECT 1", Within),
            ("insert into t values (1); update t set a = 2", Within),
            ("(SELECT 1) UNION (SELECT 2)", Within),
            ("WITH x AS (SELECT 1) SELECT * FROM x", Within),
            ("SAVEPOINT a", Within),
            ("ROLLBACK TO SAVEPOINT a", Within),
            ("rollback work to a", Within),
            ("RELEASE SAVEPOINT a", Within),
            ("SELECT 'COMMIT'", Within),
            ("", Within),
            ("BEGIN", MayEnd),
            ("START TRANSACTION", MayEnd),
            ("CREATE TABLE t (a INT)", MayEnd),
            ("SET autocommit = 1", MayEnd),
            ("LOCK TABLES t WRITE", MayEnd),
            ("COMMIT AND CHAIN", MayEnd),
            ("ROLLBACK RELEASE", MayEnd),
            ("INSERT INTO t VALUES (1); COMMIT", MayEnd),
            ("ROLLBACK; SELECT 1", MayEnd),
            ("SELECT 'unterminated", MayEnd),
            // Without backslash escapes (sql_mode), the server reads a COMMIT here.
            ("SELECT 'a\\' ; COMMIT; '", MayEnd),
            ("SELECT 'a\\\\b'", Within),
        ];
        for (sql, expected) in cases {
            assert_eq!(effect(sql.as_bytes()), expected, "{sql}");
        }
    }
}
