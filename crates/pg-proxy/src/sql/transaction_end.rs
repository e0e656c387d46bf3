//! Whether a statement plainly ends the transaction: `ROLLBACK` or `COMMIT` alone.
//! What a client inside a transaction that is already lost may still run.

use super::lexer::{Lexer, Token};

/// How a query ends a transaction, if it is one statement that does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Rollback,
    Commit,
}

/// `ROLLBACK`/`ABORT` (not `ROLLBACK TO SAVEPOINT`, `ROLLBACK PREPARED`) or
/// `COMMIT`/`END` (not `COMMIT PREPARED`), alone with its optional `WORK`/`TRANSACTION`
/// and `AND NO CHAIN`.
pub fn transaction_end(text: &str) -> Option<End> {
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
