//! Telling a common table expression's name with a column list (`WITH r (n) AS (...)`)
//! from a function call (`f(x)`), which look alike token by token: the classifier
//! skips the former and checks the latter.

use super::{Statement, Token, MAX_TOKENS_FOR_CTE_NAMES};

impl Statement<'_, '_> {
    /// Whether the `name (` at `i` names a common table expression with its column list
    /// (`WITH name (a, b) AS (...)`, or after an earlier CTE of the same WITH list).
    pub(super) fn is_cte_name(&self, i: usize) -> bool {
        // Bounds the parenthesis matching on huge statements (it would be quadratic):
        // past this, a CTE name with a column list reads as a call, which can only pin.
        if self.tokens.len() > MAX_TOKENS_FOR_CTE_NAMES {
            return false;
        }
        let Some(close) = self.matching_close(i + 1) else {
            return false;
        };
        let body_follows = self.is(close + 1, "as")
            && (self.token(close + 2) == Some(Token::Punct(b'('))
                || self.is(close + 2, "materialized")
                || self.is(close + 2, "not"));
        body_follows && self.starts_cte(i)
    }

    /// Whether a CTE named at `name` stands in a WITH list: right after `WITH` (or
    /// `RECURSIVE`), or after `, ` that follows the body of a CTE that does. A column
    /// definition list (`FROM f() AS (a int), g() AS (b int)`) looks like a body but
    /// leads back to a FROM, not a WITH.
    fn starts_cte(&self, mut name: usize) -> bool {
        loop {
            let Some(before) = name.checked_sub(1) else {
                return false;
            };
            if self.is(before, "with") || self.is(before, "recursive") {
                return true;
            }
            if self.token(before) != Some(Token::Punct(b',')) {
                return false;
            }
            // `name [(columns)] AS [NOT] [MATERIALIZED] (body)` of the CTE before.
            let Some(body_close) = before.checked_sub(1) else {
                return false;
            };
            if self.token(body_close) != Some(Token::Punct(b')')) {
                return false;
            }
            let Some(mut k) = self
                .matching_open(body_close)
                .and_then(|open| open.checked_sub(1))
            else {
                return false;
            };
            if self.is(k, "materialized") {
                k = match k.checked_sub(1) {
                    Some(k) => k,
                    None => return false,
                };
            }
            if self.is(k, "not") {
                k = match k.checked_sub(1) {
                    Some(k) => k,
                    None => return false,
                };
            }
            if !self.is(k, "as") {
                return false;
            }
            let Some(mut earlier) = k.checked_sub(1) else {
                return false;
            };
            if self.token(earlier) == Some(Token::Punct(b')')) {
                // A column list: the name is before it.
                earlier = match self
                    .matching_open(earlier)
                    .and_then(|open| open.checked_sub(1))
                {
                    Some(n) => n,
                    None => return false,
                };
            }
            if !matches!(
                self.token(earlier),
                Some(Token::Word(_) | Token::QuotedIdent(_))
            ) {
                return false;
            }
            name = earlier;
        }
    }

    pub(super) fn matching_close(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for i in open..self.tokens.len() {
            match self.token(i) {
                Some(Token::Punct(b'(')) => depth += 1,
                Some(Token::Punct(b')')) => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    pub(super) fn matching_open(&self, close: usize) -> Option<usize> {
        let mut depth = 0usize;
        for i in (0..=close).rev() {
            match self.token(i) {
                Some(Token::Punct(b')')) => depth += 1,
                Some(Token::Punct(b'(')) => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }
}
