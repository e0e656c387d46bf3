//! A lexer for MySQL's and MariaDB's SQL, as far as classifying statements needs. It
//! knows every way text can hide a word from a keyword search or show one to the
//! server: `#` and `-- ` line comments, `/* */` comments (optimizer hints `/*+ */`
//! among them), the comments the server *executes* (`/*! */`, `/*!NNNNN */`, MariaDB's
//! `/*M! */`, whose content is read as code), strings with backslash escapes or
//! doubled quotes, backtick identifiers, user and system variables. It borrows from
//! the text and does not allocate.

/// One token; its text is borrowed from the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// A keyword or an unquoted identifier, as written (compare ignoring ASCII case).
    /// Also a name that starts with digits (`1abc`) and hexadecimal `0x1F`.
    Word(&'a [u8]),
    /// A backtick-quoted identifier, without its backticks (doubled ones stay doubled).
    QuotedIdent(&'a [u8]),
    /// A string in `'...'` or `"..."` (an identifier under ANSI_QUOTES), quotes included.
    Str(&'a [u8]),
    /// Digits, with a fraction or exponent if written.
    Number(&'a [u8]),
    /// A user variable, `@` included: `@name`, `@'name'`, `@"name"`, `` @`name` ``.
    UserVar(&'a [u8]),
    /// A system variable, `@@` included: `@@name`, `@@session.name`.
    SystemVar(&'a [u8]),
    /// A placeholder, `?`.
    Param,
    /// `(`, `)`, `,`, `;` or `.`.
    Punct(u8),
    /// An operator: `:=`, `<=>`, `<=`, `>=`, `<>`, `!=`, `<<`, `>>`, `&&`, `||`, `->`,
    /// `->>`, or any other single byte.
    Operator(&'a [u8]),
}

impl Token<'_> {
    /// Whether this is the word `kw` (ASCII, any case).
    pub fn is_word(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw.as_bytes()))
    }

    /// Whether this is the operator `op`.
    pub fn is_op(&self, op: &str) -> bool {
        matches!(self, Token::Operator(o) if *o == op.as_bytes())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    /// The text ends inside a string, quoted identifier or comment: the server would
    /// refuse it, and nothing after the opening can be read as tokens.
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

/// Whether a backslash escapes the next byte inside each kind of string: it does
/// unless sql_mode has NO_BACKSLASH_ESCAPES, and never inside `"..."` read as an
/// identifier (ANSI_QUOTES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoting {
    pub backslash_in_single: bool,
    pub backslash_in_double: bool,
}

impl Quoting {
    /// The server's defaults: backslashes escape in both.
    pub const DEFAULT: Quoting = Quoting {
        backslash_in_single: true,
        backslash_in_double: true,
    };

    /// Every way a server could read backslashes, whatever its sql_mode.
    pub const ALL: [Quoting; 3] = [
        Quoting::DEFAULT,
        Quoting {
            backslash_in_single: true,
            backslash_in_double: false,
        },
        Quoting {
            backslash_in_single: false,
            backslash_in_double: false,
        },
    ];
}

/// The tokens of a text, in order. Yields `Err` once (and then nothing) when the
/// text ends inside a quote or comment.
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    quoting: Quoting,
    /// Inside `/*! ... */` or `/*M! ... */`: the next `*/` closes it.
    in_executed_comment: bool,
    failed: bool,
}

/// The server's whitespace.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Bytes of unquoted names: letters, digits, `_`, `$`, and every non-ASCII byte.
fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Operators of more than one byte, longest first.
const LONG_OPERATORS: [&[u8]; 12] = [
    b"<=>", b"->>", b"->", b":=", b"<=", b">=", b"<>", b"!=", b"<<", b">>", b"&&", b"||",
];

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8], quoting: Quoting) -> Self {
        Self {
            src,
            pos: 0,
            quoting,
            in_executed_comment: false,
            failed: false,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    /// Skips whitespace, comments and the markers of executed comments. `Err` when a
    /// comment does not end.
    fn skip_trivia(&mut self) -> Result<(), LexError> {
        loop {
            let Some(b) = self.peek(0) else {
                return Ok(());
            };
            match b {
                _ if is_space(b) => self.pos += 1,
                b'#' => self.skip_line(),
                b'-' if self.peek(1) == Some(b'-')
                    && self.peek(2).is_none_or(|c| c <= b' ' || c == 0x7f) =>
                {
                    self.skip_line()
                }
                b'/' if self.peek(1) == Some(b'*') => self.open_comment()?,
                b'*' if self.in_executed_comment && self.peek(1) == Some(b'/') => {
                    self.in_executed_comment = false;
                    self.pos += 2;
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) {
        self.pos = match memchr::memchr(b'\n', &self.src[self.pos..]) {
            Some(i) => self.pos + i + 1,
            None => self.src.len(),
        };
    }

    /// At `/*`: an executed comment's marker (and version number) is passed over and
    /// its content read as code; any other comment is skipped whole.
    fn open_comment(&mut self) -> Result<(), LexError> {
        let marker = match (self.peek(2), self.peek(3)) {
            (Some(b'!'), _) => Some(3),
            (Some(b'M' | b'm'), Some(b'!')) => Some(4),
            _ => None,
        };
        if let Some(len) = marker {
            self.pos += len;
            let digits = self.src[self.pos..]
                .iter()
                .take(6)
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits >= 5 {
                self.pos += digits;
            }
            self.in_executed_comment = true;
            return Ok(());
        }
        match memchr::memmem::find(&self.src[self.pos + 2..], b"*/") {
            Some(i) => {
                self.pos += 2 + i + 2;
                Ok(())
            }
            None => Err(LexError::Unterminated),
        }
    }

    /// From an opening quote at `self.pos` to just past its closing one.
    fn quoted_end(&self, quote: u8) -> Result<usize, LexError> {
        let backslash = match quote {
            b'\'' => self.quoting.backslash_in_single,
            b'"' => self.quoting.backslash_in_double,
            _ => false,
        };
        let mut i = self.pos + 1;
        loop {
            let found = if backslash {
                memchr::memchr2(quote, b'\\', &self.src[i..])
            } else {
                memchr::memchr(quote, &self.src[i..])
            };
            let Some(off) = found else {
                return Err(LexError::Unterminated);
            };
            i += off;
            if self.src[i] == b'\\' {
                i += 2;
                if i > self.src.len() {
                    return Err(LexError::Unterminated);
                }
            } else if self.src.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return Ok(i + 1);
            }
        }
    }

    fn ident_end(&self, from: usize) -> usize {
        from + self.src[from..]
            .iter()
            .take_while(|b| is_ident(**b))
            .count()
    }

    /// A number, or a name that starts with digits.
    fn number(&self) -> (Token<'a>, usize) {
        let s = self.src;
        let digits = |i: usize| i + s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut end = digits(self.pos);
        if s.get(end) == Some(&b'.') {
            end = digits(end + 1);
        }
        if matches!(s.get(end), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(s.get(end + 1), Some(b'+' | b'-')));
            if s.get(end + 1 + sign).is_some_and(u8::is_ascii_digit) {
                end = digits(end + 1 + sign);
            }
        }
        if s.get(end).is_some_and(|b| is_ident(*b)) {
            let end = self.ident_end(end);
            return (Token::Word(&s[self.pos..end]), end);
        }
        (Token::Number(&s[self.pos..end]), end)
    }

    /// At `@`: a user or system variable, or `@` alone.
    fn variable(&self) -> Result<(Token<'a>, usize), LexError> {
        let s = self.src;
        let start = self.pos;
        if s.get(start + 1) == Some(&b'@') {
            let mut end = start + 2;
            loop {
                match s.get(end) {
                    Some(b'`') => {
                        let inner = Lexer { pos: end, ..*self };
                        end = inner.quoted_end(b'`')?;
                    }
                    Some(&b) if is_ident(b) || b == b'.' => end += 1,
                    _ => break,
                }
            }
            return Ok((Token::SystemVar(&s[start..end]), end));
        }
        match s.get(start + 1) {
            Some(&q @ (b'\'' | b'"' | b'`')) => {
                let inner = Lexer {
                    pos: start + 1,
                    ..*self
                };
                let end = inner.quoted_end(q)?;
                Ok((Token::UserVar(&s[start..end]), end))
            }
            _ => {
                let end = start
                    + 1
                    + s[start + 1..]
                        .iter()
                        .take_while(|b| is_ident(**b) || **b == b'.')
                        .count();
                if end == start + 1 {
                    Ok((Token::Operator(&s[start..end]), end))
                } else {
                    Ok((Token::UserVar(&s[start..end]), end))
                }
            }
        }
    }

    fn token(&self) -> Result<(Token<'a>, usize), LexError> {
        let s = self.src;
        let start = self.pos;
        let b = s[start];
        Ok(match b {
            b'\'' | b'"' => {
                let end = self.quoted_end(b)?;
                (Token::Str(&s[start..end]), end)
            }
            b'`' => {
                let end = self.quoted_end(b)?;
                (Token::QuotedIdent(&s[start + 1..end - 1]), end)
            }
            b'@' => return self.variable(),
            b'0'..=b'9' => self.number(),
            _ if is_ident(b) => {
                let end = self.ident_end(start);
                (Token::Word(&s[start..end]), end)
            }
            b'?' => (Token::Param, start + 1),
            b'(' | b')' | b',' | b';' | b'.' => (Token::Punct(b), start + 1),
            _ => {
                let rest = &s[start..];
                let len = LONG_OPERATORS
                    .iter()
                    .find(|op| rest.starts_with(op))
                    .map_or(1, |op| op.len());
                (Token::Operator(&s[start..start + len]), start + len)
            }
        })
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Spanned<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let step = self.skip_trivia().and_then(|()| {
            if self.pos >= self.src.len() {
                if self.in_executed_comment {
                    // The server refuses an executed comment that does not end.
                    return Err(LexError::Unterminated);
                }
                return Ok(None);
            }
            self.token().map(Some)
        });
        match step {
            Ok(None) => None,
            Ok(Some((token, end))) => {
                let start = self.pos;
                self.pos = end;
                Some(Ok(Spanned { token, start, end }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
#[path = "lexer_tests.rs"]
mod tests;
