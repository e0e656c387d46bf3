//! A quick look that proves a query does nothing to its session, so that the full
//! classification (`classify.rs`) can be skipped for the plain statements most traffic
//! is made of (`SELECT abalance FROM t WHERE aid = 42`, `UPDATE t SET a = a + 1 WHERE
//! id = 7`, `BEGIN`, `COMMIT`).
//!
//! It answers "inert" only for text the full lexer reads as words, numbers and simple
//! punctuation: no quotes, dollars, backslashes, comments, parentheses or non-ASCII
//! bytes. Such text holds no function call (every call needs a parenthesis), no
//! string a setting could hide in, and nothing the lexer could fail on; what is left to
//! check are words, and the words that matter are few: a statement starting with one
//! of the commands `classify.rs` acts on, or a word that marks temporary objects or
//! prepared statements anywhere. Anything else goes to the full classification, so a
//! "no" here costs a second look and never a wrong answer.

/// The longest word either list below holds.
const LONGEST_WORD: usize = 22;

/// What a word (lowercase) means here.
enum Word {
    /// Makes a statement a session command when it starts it.
    Leading,
    /// Matters wherever it stands: temporary objects, prepared statements.
    Anywhere,
    Plain,
}

fn word_kind(lower: &[u8]) -> Word {
    match lower {
        b"set" | b"reset" | b"discard" | b"listen" | b"load" | b"do" | b"call" | b"declare"
        | b"create" => Word::Leading,
        b"temp"
        | b"temporary"
        | b"prepare"
        | b"execute"
        | b"deallocate"
        | b"pg_prepared_statements"
        | b"pg_prepared_statement" => Word::Anywhere,
        _ => Word::Plain,
    }
}

/// What a byte of text is to the quick look.
const OTHER: u8 = 0;
/// Whitespace and punctuation the full lexer reads without surprise.
const PLAIN: u8 = 1;
/// Letters, digits and `_`: part of a word or a number.
const WORD: u8 = 2;
/// `;` ends a statement; `-` could start a comment.
const SEMICOLON: u8 = 3;
const MINUS: u8 = 4;

/// Every byte's class, so the scan costs one load per byte.
static CLASS: [u8; 256] = {
    let mut class = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        class[b] = if c.is_ascii_alphanumeric() || c == b'_' {
            WORD
        } else {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | b',' | b'.' | b':' | b'=' | b'<'
                | b'>' | b'+' | b'*' | b'!' | b'%' => PLAIN,
                b';' => SEMICOLON,
                b'-' => MINUS,
                _ => OTHER,
            }
        };
        b += 1;
    }
    class
};

/// Whether `query` certainly changes nothing of its session: no setting, no pin, no
/// refusal. `false` means "look closer", not "it does".
pub fn is_plainly_inert(query: &[u8]) -> bool {
    let mut i = 0;
    // The next word starts a statement: the first one, and each after a `;`.
    let mut statement_start = true;
    while let Some(&b) = query.get(i) {
        match CLASS[b as usize] {
            WORD => {
                let start = i;
                while query.get(i).is_some_and(|&c| CLASS[c as usize] == WORD) {
                    i += 1;
                }
                // A word that starts with a digit is a number (or the start of one).
                if !b.is_ascii_digit() && matters(&query[start..i], statement_start) {
                    return false;
                }
                statement_start = false;
                continue;
            }
            PLAIN => {}
            SEMICOLON => statement_start = true,
            // A line comment could hide where a statement starts.
            MINUS if query.get(i + 1) == Some(&b'-') => return false,
            MINUS => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

/// Whether `word` is one the full classification acts on, where it stands.
fn matters(word: &[u8], statement_start: bool) -> bool {
    if word.len() >= 7 && word[..7].eq_ignore_ascii_case(b"pg_temp") {
        return true;
    }
    if word.len() < 2 || word.len() > LONGEST_WORD {
        return false;
    }
    let mut lower = [0u8; LONGEST_WORD];
    let lower = &mut lower[..word.len()];
    lower.copy_from_slice(word);
    lower.make_ascii_lowercase();
    match word_kind(lower) {
        Word::Leading => statement_start,
        Word::Anywhere => true,
        Word::Plain => false,
    }
}

#[cfg(test)]
#[path = "inert_tests.rs"]
mod tests;
