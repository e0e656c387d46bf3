use super::*;

fn tokens(sql: &str) -> Vec<Token<'_>> {
    Lexer::new(sql.as_bytes(), Quoting::DEFAULT)
        .map(|t| t.expect("lexes").token)
        .collect()
}

fn words(sql: &str) -> Vec<String> {
    tokens(sql)
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(String::from_utf8_lossy(w).to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn fails(sql: &str, quoting: Quoting) -> bool {
    Lexer::new(sql.as_bytes(), quoting).any(|t| t.is_err())
}

#[test]
fn words_numbers_and_punctuation() {
    assert_eq!(
        tokens("SELECT a1, 42 FROM t;"),
        vec![
            Token::Word(b"SELECT"),
            Token::Word(b"a1"),
            Token::Punct(b','),
            Token::Number(b"42"),
            Token::Word(b"FROM"),
            Token::Word(b"t"),
            Token::Punct(b';'),
        ]
    );
    assert_eq!(tokens("1.5e+3"), vec![Token::Number(b"1.5e+3")]);
    assert_eq!(tokens("1abc"), vec![Token::Word(b"1abc")]);
    assert_eq!(tokens("0x1F"), vec![Token::Word(b"0x1F")]);
    assert_eq!(tokens("é$x"), vec![Token::Word("é$x".as_bytes())]);
    assert_eq!(tokens("?"), vec![Token::Param]);
}

#[test]
fn operators() {
    assert_eq!(
        tokens("@a:=1"),
        vec![
            Token::UserVar(b"@a"),
            Token::Operator(b":="),
            Token::Number(b"1")
        ]
    );
    // `=-` is two operators: `SET @a=-1` assigns.
    assert_eq!(
        tokens("=-"),
        vec![Token::Operator(b"="), Token::Operator(b"-")]
    );
    assert_eq!(tokens("<=>"), vec![Token::Operator(b"<=>")]);
    assert_eq!(tokens("c->>'$.a'")[1], Token::Operator(b"->>"));
    assert_eq!(tokens("c->'$.a'")[1], Token::Operator(b"->"));
}

#[test]
fn comments_hide_words() {
    assert_eq!(words("/* KILL */ SELECT 1"), vec!["select"]);
    assert_eq!(words("SELECT 1 # KILL 5\n, 2"), vec!["select"]);
    assert_eq!(words("SELECT 1 -- KILL 5\n"), vec!["select"]);
    assert_eq!(words("SELECT 1 --\tKILL"), vec!["select"]);
    assert_eq!(words("SELECT 1 --"), vec!["select"]);
    // Optimizer hints are comments.
    assert_eq!(words("SELECT /*+ BKA(t) */ 1"), vec!["select"]);
    // `/* /* */` does not nest: the first `*/` ends it.
    assert_eq!(words("/* /* */ KILL 5"), vec!["kill"]);
}

#[test]
fn double_dash_without_space_is_two_minuses() {
    assert_eq!(
        tokens("5--3"),
        vec![
            Token::Number(b"5"),
            Token::Operator(b"-"),
            Token::Operator(b"-"),
            Token::Number(b"3")
        ]
    );
    assert_eq!(words("SELECT 1--x"), vec!["select", "x"]);
}

#[test]
fn executed_comments_are_code() {
    assert_eq!(words("/*! KILL */ 5"), vec!["kill"]);
    assert_eq!(
        words("/*!50000 CREATE TEMPORARY */ TABLE t"),
        vec!["create", "temporary", "table", "t"]
    );
    assert_eq!(words("/*M!100100 KILL */"), vec!["kill"]);
    assert_eq!(words("/*!KILL*/5"), vec!["kill"]);
    assert_eq!(
        tokens("KILL/*!*/5"),
        vec![Token::Word(b"KILL"), Token::Number(b"5")]
    );
    // Outside an executed comment, `*/` is two operators.
    assert_eq!(
        tokens("2 */ 1"),
        vec![
            Token::Number(b"2"),
            Token::Operator(b"*"),
            Token::Operator(b"/"),
            Token::Number(b"1")
        ]
    );
    assert!(fails("/*! KILL 5", Quoting::DEFAULT));
}

#[test]
fn strings_hide_words() {
    assert_eq!(words("SELECT 'temporary', \"kill\""), vec!["select"]);
    assert_eq!(words("SELECT 'it''s', 'a\\'b' , x"), vec!["select", "x"]);
    assert_eq!(
        words("SELECT `get_lock` FROM t"),
        vec!["select", "from", "t"]
    );
    assert_eq!(tokens("`a``b`"), vec![Token::QuotedIdent(b"a``b")]);
    assert_eq!(
        tokens("_utf8mb4'x'"),
        vec![Token::Word(b"_utf8mb4"), Token::Str(b"'x'")]
    );
}

#[test]
fn backslashes_follow_the_quoting() {
    let sql = "SELECT 'a\\' KILL 5 '";
    // With backslash escapes, the string runs to the end.
    assert_eq!(words(sql), vec!["select"]);
    let none = Quoting::ALL[2];
    // Without: the string ends at `\'`, KILL is a word, and the last quote opens a
    // string that does not end.
    let all: Vec<_> = Lexer::new(sql.as_bytes(), none).collect();
    assert!(all.iter().any(|t| t.is_ok_and(|t| t.token.is_word("kill"))));
    assert!(all.last().unwrap().is_err());
    // ANSI_QUOTES: no escapes inside "...".
    assert!(!fails("SELECT \"a\\\"", Quoting::ALL[1]));
    assert!(fails("SELECT \"a\\\"", Quoting::DEFAULT));
}

#[test]
fn variables() {
    assert_eq!(
        tokens("@a @'b c' @\"d\" @`e` @f.g @@x @@session.sql_mode @@session.`y`"),
        vec![
            Token::UserVar(b"@a"),
            Token::UserVar(b"@'b c'"),
            Token::UserVar(b"@\"d\""),
            Token::UserVar(b"@`e`"),
            Token::UserVar(b"@f.g"),
            Token::SystemVar(b"@@x"),
            Token::SystemVar(b"@@session.sql_mode"),
            Token::SystemVar(b"@@session.`y`"),
        ]
    );
    assert_eq!(
        tokens("'u'@'h'"),
        vec![Token::Str(b"'u'"), Token::UserVar(b"@'h'")]
    );
    assert_eq!(tokens("@ x")[0], Token::Operator(b"@"));
}

#[test]
fn unterminated_text_fails_once_without_panicking() {
    for sql in [
        "SELECT 'abc",
        "SELECT \"abc",
        "SELECT `abc",
        "SELECT /* abc",
        "SELECT 'abc\\",
        "@'x",
        "@@`x",
        "/*!",
        "/*M!1001",
    ] {
        let all: Vec<_> = Lexer::new(sql.as_bytes(), Quoting::DEFAULT).collect();
        assert!(matches!(all.last(), Some(Err(_))), "{sql}");
        assert_eq!(all.iter().filter(|t| t.is_err()).count(), 1, "{sql}");
    }
    // Any prefix of any text lexes without a panic.
    let text = "SELECT /*! 'a\\'' */ `b``` @'c' @@d.`e` -- x\n#y\n/*+ z */ 1.5e-3 ->> :=";
    for end in 0..=text.len() {
        if text.is_char_boundary(end) {
            for q in Quoting::ALL {
                let _ = Lexer::new(&text.as_bytes()[..end], q).count();
            }
        }
    }
}

#[test]
fn spans_point_into_the_text() {
    let sql = "  KILL  7";
    let t: Vec<_> = Lexer::new(sql.as_bytes(), Quoting::DEFAULT)
        .map(Result::unwrap)
        .collect();
    assert_eq!((t[0].start, t[0].end), (2, 6));
    assert_eq!(&sql[t[1].start..t[1].end], "7");
}
