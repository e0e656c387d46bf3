//! A lexer for PostgreSQL's SQL, as far as classifying statements needs: it knows every
//! way text can hide a word from a keyword search (line and nested block comments,
//! standard, escape, bit, national and Unicode strings, dollar quotes with tags, quoted
//! identifiers, any whitespace PostgreSQL accepts), so that what classifies a statement
//! sees the tokens PostgreSQL's own scanner would. It borrows from the text and does
//! not allocate.

/// One token; text is borrowed from the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// A keyword or an unquoted identifier, as written (compare ignoring ASCII case).
    Word(&'a str),
    /// A quoted identifier, without its quotes (a doubled `""` stays doubled).
    QuotedIdent(&'a str),
    /// A string constant of any kind, as written: prefix and quotes included.
    Literal(&'a str),
    Number(&'a str),
    /// A positional parameter, `$1`.
    Param,
    /// `(`, `)`, `[`, `]`, `,`, `;`, `:` or `.`.
    Punct(u8),
    /// A run of operator characters (`=`, `<>`, `::` is two `:` puncts).
    Operator(&'a str),
}

impl Token<'_> {
    /// Whether this is the word `kw` (lowercase), in any letter case.
    pub fn is_word(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    /// The text ends inside a string, quoted identifier, dollar quote or block comment:
    /// PostgreSQL would refuse it, and nothing after the opening can be read as tokens.
    #[error("unterminated string, identifier or comment")]
    Unterminated,
}

/// A token and where it stands in the text (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spanned<'a> {
    pub token: Token<'a>,
    pub start: usize,
    pub end: usize,
}

/// The tokens of a text, in order. Yields `Err` once (and then nothing) when the
/// text ends inside a quote or comment.
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    /// `standard_conforming_strings = off`: a backslash escapes in plain `'...'` too.
    backslash_escapes: bool,
    failed: bool,
}

/// PostgreSQL's whitespace (scan.l's `space`).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Identifier characters (scan.l): letters, `_`, and every non-ASCII byte.
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_operator_char(b: u8) -> bool {
    b"+-*/<>=~!@#%^&|`?".contains(&b)
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Self::with_backslash_escapes(src, false)
    }

    /// `backslash_escapes`: the session runs with `standard_conforming_strings = off`.
    pub fn with_backslash_escapes(src: &'a str, backslash_escapes: bool) -> Self {
        Self {
            src,
            pos: 0,
            backslash_escapes,
            failed: false,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes().get(i).copied()
    }

    /// Skips whitespace and comments; false when a block comment does not end.
    fn skip_blanks(&mut self) -> bool {
        let b = self.bytes();
        loop {
            while self.pos < b.len() && is_space(b[self.pos]) {
                self.pos += 1;
            }
            if b[self.pos..].starts_with(b"--") {
                while self.pos < b.len() && b[self.pos] != b'\n' && b[self.pos] != b'\r' {
                    self.pos += 1;
                }
            } else if b[self.pos..].starts_with(b"/*") {
                // Block comments nest in PostgreSQL.
                let mut depth = 0usize;
                loop {
                    if b[self.pos..].starts_with(b"/*") {
                        depth += 1;
                        self.pos += 2;
                    } else if b[self.pos..].starts_with(b"*/") {
                        depth -= 1;
                        self.pos += 2;
                        if depth == 0 {
                            break;
                        }
                    } else if self.pos >= b.len() {
                        return false;
                    } else {
                        self.pos += 1;
                    }
                }
            } else {
                return true;
            }
        }
    }

    /// The end of a quoted run starting at the opening quote `start`; `escapes`: a
    /// backslash takes the next byte with it.
    fn quoted_end(&self, start: usize, quote: u8, escapes: bool) -> Option<usize> {
        let b = self.bytes();
        let mut i = start + 1;
        while i < b.len() {
            match b[i] {
                b'\\' if escapes => i += 2,
                q if q == quote => {
                    if b.get(i + 1) == Some(&quote) {
                        i += 2;
                    } else {
                        return Some(i + 1);
                    }
                }
                _ => i += 1,
            }
        }
        None
    }

    /// A dollar quote's tag at `start` (`$tag$` or `$$`), as its length.
    fn dollar_tag_len(&self, start: usize) -> Option<usize> {
        let b = self.bytes();
        let mut i = start + 1;
        if i < b.len() && is_ident_start(b[i]) {
            i += 1;
            while i < b.len() && is_ident_cont(b[i]) && b[i] != b'$' {
                i += 1;
            }
        }
        (b.get(i) == Some(&b'$')).then_some(i + 1 - start)
    }

    /// The next token with its place, `None` at the end; after an `Err`, `None`.
    pub fn next_spanned(&mut self) -> Option<Result<Spanned<'a>, LexError>> {
        if self.failed {
            return None;
        }
        match self.token() {
            Ok(Some((token, start))) => Some(Ok(Spanned {
                token,
                start,
                end: self.pos,
            })),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    fn token(&mut self) -> Result<Option<(Token<'a>, usize)>, LexError> {
        if !self.skip_blanks() {
            return Err(LexError::Unterminated);
        }
        let b = self.bytes();
        let start = self.pos;
        let Some(&c) = b.get(start) else {
            return Ok(None);
        };
        let text = |end: usize| &self.src[start..end];
        // Prefixed strings: E'..', B'..', X'..', N'..', U&'..' and U&"..".
        let prefixed = match (
            c.to_ascii_lowercase(),
            self.at(start + 1),
            self.at(start + 2),
        ) {
            (b'e', Some(b'\''), _) => Some((start + 1, b'\'', true)),
            // N'..' is a plain string: backslashes escape when the session says so.
            (b'n', Some(b'\''), _) => Some((start + 1, b'\'', self.backslash_escapes)),
            (b'b' | b'x', Some(b'\''), _) => Some((start + 1, b'\'', false)),
            (b'u', Some(b'&'), Some(q @ (b'\'' | b'"'))) => Some((start + 2, q, false)),
            _ => None,
        };
        if let Some((open, quote, escapes)) = prefixed {
            let end = self
                .quoted_end(open, quote, escapes)
                .ok_or(LexError::Unterminated)?;
            self.pos = end;
            let token = if quote == b'"' {
                Token::QuotedIdent(&self.src[open + 1..end - 1])
            } else {
                Token::Literal(text(end))
            };
            return Ok(Some((token, start)));
        }
        let token = match c {
            b'\'' => {
                let end = self
                    .quoted_end(start, b'\'', self.backslash_escapes)
                    .ok_or(LexError::Unterminated)?;
                self.pos = end;
                Token::Literal(text(end))
            }
            b'"' => {
                let end = self
                    .quoted_end(start, b'"', false)
                    .ok_or(LexError::Unterminated)?;
                self.pos = end;
                Token::QuotedIdent(&self.src[start + 1..end - 1])
            }
            b'$' if self.at(start + 1).is_some_and(|d| d.is_ascii_digit()) => {
                self.pos += 1;
                while self.at(self.pos).is_some_and(|d| d.is_ascii_digit()) {
                    self.pos += 1;
                }
                Token::Param
            }
            b'$' => match self.dollar_tag_len(start) {
                Some(tag_len) => {
                    let tag = &b[start..start + tag_len];
                    let body = start + tag_len;
                    let close = b[body..]
                        .windows(tag_len)
                        .position(|w| w == tag)
                        .ok_or(LexError::Unterminated)?;
                    self.pos = body + close + tag_len;
                    Token::Literal(text(self.pos))
                }
                None => {
                    self.pos += 1;
                    Token::Operator(text(self.pos))
                }
            },
            c if is_ident_start(c) => {
                self.pos += 1;
                while self.at(self.pos).is_some_and(is_ident_cont) {
                    self.pos += 1;
                }
                // Slicing a str needs a char boundary: non-ASCII bytes are all taken.
                Token::Word(text(self.pos))
            }
            c if c.is_ascii_digit()
                || (c == b'.' && self.at(start + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos += 1;
                while let Some(d) = self.at(self.pos) {
                    let exponent_sign = (d == b'+' || d == b'-')
                        && matches!(self.at(self.pos - 1), Some(b'e' | b'E'));
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                Token::Number(text(self.pos))
            }
            b'(' | b')' | b'[' | b']' | b',' | b';' | b':' | b'.' => {
                self.pos += 1;
                Token::Punct(c)
            }
            c if is_operator_char(c) => {
                self.pos += 1;
                // An operator ends where a comment starts.
                while let Some(d) = self.at(self.pos) {
                    let rest = &b[self.pos..];
                    if !is_operator_char(d) || rest.starts_with(b"--") || rest.starts_with(b"/*") {
                        break;
                    }
                    self.pos += 1;
                }
                // As PostgreSQL reads `=-1`: a trailing + or - is not part of an
                // operator made only of SQL's own operator characters.
                let op = &b[start..self.pos];
                if op.len() > 1 && !op.iter().any(|c| b"~!@#%^&|`?".contains(c)) {
                    while self.pos > start + 1 && matches!(b[self.pos - 1], b'+' | b'-') {
                        self.pos -= 1;
                    }
                }
                Token::Operator(text(self.pos))
            }
            _ => {
                // Anything else (a stray control byte) is one token of its own. The
                // byte is ASCII here: non-ASCII bytes start identifiers.
                self.pos += 1;
                Token::Operator(text(self.pos))
            }
        };
        Ok(Some((token, start)))
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Token<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_spanned().map(|r| r.map(|s| s.token))
    }
}

#[cfg(test)]
#[path = "lexer_tests.rs"]
mod tests;
