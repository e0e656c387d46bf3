use super::*;

fn tokens(sql: &str) -> Vec<Token<'_>> {
    Lexer::new(sql).collect::<Result<_, _>>().unwrap()
}

fn words(sql: &str) -> Vec<String> {
    tokens(sql)
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

#[test]
fn any_whitespace_separates_words() {
    assert_eq!(words("SET\tROLE\nadmin"), ["set", "role", "admin"]);
    assert_eq!(words("set\x0brole\x0cx\r\ny"), ["set", "role", "x", "y"]);
}

#[test]
fn comments_hide_nothing_and_block_comments_nest() {
    assert_eq!(words("set/* c */role -- tail\nx"), ["set", "role", "x"]);
    assert_eq!(
        words("/* outer /* inner */ still comment set */ select 1"),
        ["select"]
    );
    assert_eq!(words("select 1 --no newline at the end"), ["select"]);
}

#[test]
fn strings_of_each_kind_are_one_literal() {
    assert_eq!(
        tokens("select 'it''s', E'a\\'b', B'101', X'1F', N'n', U&'d\\0061'"),
        [
            Token::Word("select"),
            Token::Literal("'it''s'"),
            Token::Punct(b','),
            Token::Literal("E'a\\'b'"),
            Token::Punct(b','),
            Token::Literal("B'101'"),
            Token::Punct(b','),
            Token::Literal("X'1F'"),
            Token::Punct(b','),
            Token::Literal("N'n'"),
            Token::Punct(b','),
            Token::Literal("U&'d\\0061'"),
        ]
    );
}

#[test]
fn a_backslash_ends_nothing_in_a_standard_string() {
    // standard_conforming_strings on (the default): 'a\' is a whole string.
    assert_eq!(
        words("select 'a\\'; set role x"),
        ["select", "set", "role", "x"]
    );
    // Off: the backslash escapes the quote, and the rest is inside the string.
    let off: Vec<_> = Lexer::with_backslash_escapes("select 'a\\'; set role x'", true)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        off,
        [Token::Word("select"), Token::Literal("'a\\'; set role x'")]
    );
}

#[test]
fn dollar_quotes_with_and_without_tags() {
    assert_eq!(
        tokens("do $$ set role x $$; select $fn$ a $$ b $fn$"),
        [
            Token::Word("do"),
            Token::Literal("$$ set role x $$"),
            Token::Punct(b';'),
            Token::Word("select"),
            Token::Literal("$fn$ a $$ b $fn$"),
        ]
    );
}

#[test]
fn dollar_signs_inside_identifiers_and_parameters_start_no_quote() {
    assert_eq!(
        tokens("select a$b$, $1 from t$"),
        [
            Token::Word("select"),
            Token::Word("a$b$"),
            Token::Punct(b','),
            Token::Param,
            Token::Word("from"),
            Token::Word("t$"),
        ]
    );
}

#[test]
fn quoted_identifiers_keep_their_text() {
    assert_eq!(
        tokens(r#"select "Set Role", U&"d\0061""#),
        [
            Token::Word("select"),
            Token::QuotedIdent("Set Role"),
            Token::Punct(b','),
            Token::QuotedIdent("d\\0061"),
        ]
    );
}

#[test]
fn numbers_operators_and_casts() {
    assert_eq!(
        tokens("select 1.5e-3::float8<>.5--x"),
        [
            Token::Word("select"),
            Token::Number("1.5e-3"),
            Token::Punct(b':'),
            Token::Punct(b':'),
            Token::Word("float8"),
            Token::Operator("<>"),
            Token::Number(".5"),
        ]
    );
}

#[test]
fn a_trailing_sign_is_not_part_of_an_operator() {
    assert_eq!(
        tokens("x=-1"),
        [
            Token::Word("x"),
            Token::Operator("="),
            Token::Operator("-"),
            Token::Number("1"),
        ]
    );
    assert_eq!(tokens("a @- b")[1], Token::Operator("@-"));
}

#[test]
fn non_ascii_letters_are_identifier_characters() {
    // PostgreSQL does not take a no-break space for whitespace.
    assert_eq!(words("select\u{a0}x, é"), ["select\u{a0}x", "é"]);
}

#[test]
fn unterminated_quotes_and_comments_are_errors() {
    for sql in [
        "select 'open",
        "select \"open",
        "select $t$ open $t",
        "select /* /* */",
        "select E'\\'",
    ] {
        let all: Vec<_> = Lexer::new(sql).collect();
        assert_eq!(all.last(), Some(&Err(LexError::Unterminated)), "{sql}");
    }
}
