//! PostgreSQL's names for client encodings. The server accepts many spellings of an
//! encoding (`euc-jp`, `EUCJP`, `unicode`) and reports the one canonical name in
//! ParameterStatus; a client that sets one at startup in transaction mode is told the
//! same name without sluice asking a server. The table is PostgreSQL's own list of
//! aliases (src/common/encnames.c), matched the way it matches them: letters and digits
//! only, case ignored.

/// Every accepted spelling, cleaned (lower case, letters and digits only), with the
/// canonical name the server reports.
const ALIASES: &[(&str, &str)] = &[
    ("abc", "WIN1258"),
    ("alt", "WIN866"),
    ("big5", "BIG5"),
    ("euccn", "EUC_CN"),
    ("eucjis2004", "EUC_JIS_2004"),
    ("eucjp", "EUC_JP"),
    ("euckr", "EUC_KR"),
    ("euctw", "EUC_TW"),
    ("gb18030", "GB18030"),
    ("gbk", "GBK"),
    ("iso88591", "LATIN1"),
    ("iso885910", "LATIN6"),
    ("iso885913", "LATIN7"),
    ("iso885914", "LATIN8"),
    ("iso885915", "LATIN9"),
    ("iso885916", "LATIN10"),
    ("iso88592", "LATIN2"),
    ("iso88593", "LATIN3"),
    ("iso88594", "LATIN4"),
    ("iso88595", "ISO_8859_5"),
    ("iso88596", "ISO_8859_6"),
    ("iso88597", "ISO_8859_7"),
    ("iso88598", "ISO_8859_8"),
    ("iso88599", "LATIN5"),
    ("johab", "JOHAB"),
    ("koi8", "KOI8R"),
    ("koi8r", "KOI8R"),
    ("koi8u", "KOI8U"),
    ("latin1", "LATIN1"),
    ("latin10", "LATIN10"),
    ("latin2", "LATIN2"),
    ("latin3", "LATIN3"),
    ("latin4", "LATIN4"),
    ("latin5", "LATIN5"),
    ("latin6", "LATIN6"),
    ("latin7", "LATIN7"),
    ("latin8", "LATIN8"),
    ("latin9", "LATIN9"),
    ("mskanji", "SJIS"),
    ("muleinternal", "MULE_INTERNAL"),
    ("shiftjis", "SJIS"),
    ("shiftjis2004", "SHIFT_JIS_2004"),
    ("sjis", "SJIS"),
    ("sqlascii", "SQL_ASCII"),
    ("tcvn", "WIN1258"),
    ("tcvn5712", "WIN1258"),
    ("uhc", "UHC"),
    ("unicode", "UTF8"),
    ("utf8", "UTF8"),
    ("vscii", "WIN1258"),
    ("win", "WIN1251"),
    ("win1250", "WIN1250"),
    ("win1251", "WIN1251"),
    ("win1252", "WIN1252"),
    ("win1253", "WIN1253"),
    ("win1254", "WIN1254"),
    ("win1255", "WIN1255"),
    ("win1256", "WIN1256"),
    ("win1257", "WIN1257"),
    ("win1258", "WIN1258"),
    ("win866", "WIN866"),
    ("win874", "WIN874"),
    ("win932", "SJIS"),
    ("win936", "GBK"),
    ("win949", "UHC"),
    ("win950", "BIG5"),
    ("windows1250", "WIN1250"),
    ("windows1251", "WIN1251"),
    ("windows1252", "WIN1252"),
    ("windows1253", "WIN1253"),
    ("windows1254", "WIN1254"),
    ("windows1255", "WIN1255"),
    ("windows1256", "WIN1256"),
    ("windows1257", "WIN1257"),
    ("windows1258", "WIN1258"),
    ("windows866", "WIN866"),
    ("windows874", "WIN874"),
    ("windows932", "SJIS"),
    ("windows936", "GBK"),
    ("windows949", "UHC"),
    ("windows950", "BIG5"),
];

/// The name the server reports for the encoding a client asked for, or `None` for a
/// name PostgreSQL does not know (the server then refuses it itself).
pub fn encoding_name(asked: &str) -> Option<&'static str> {
    // Longer than any alias: not one of them.
    if asked.len() > 32 {
        return None;
    }
    let cleaned: String = asked
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    ALIASES
        .binary_search_by(|(alias, _)| (*alias).cmp(cleaned.as_str()))
        .ok()
        .map(|i| ALIASES[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_sorted_for_the_binary_search() {
        assert!(ALIASES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn spellings_map_to_the_reported_name() {
        assert_eq!(encoding_name("euc-jp"), Some("EUC_JP"));
        assert_eq!(encoding_name("EUC_JP"), Some("EUC_JP"));
        assert_eq!(encoding_name("utf-8"), Some("UTF8"));
        assert_eq!(encoding_name("Unicode"), Some("UTF8"));
        assert_eq!(encoding_name("ISO-8859-1"), Some("LATIN1"));
        assert_eq!(encoding_name("iso_8859_5"), Some("ISO_8859_5"));
        assert_eq!(encoding_name("Windows-1252"), Some("WIN1252"));
        assert_eq!(encoding_name("SQL_ASCII"), Some("SQL_ASCII"));
    }

    #[test]
    fn unknown_names_are_left_to_the_server() {
        assert_eq!(encoding_name("klingon"), None);
        assert_eq!(encoding_name(""), None);
        assert_eq!(encoding_name(&"u".repeat(100)), None);
    }
}
