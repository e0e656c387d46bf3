//! Client access rules in the style of PostgreSQL's `pg_hba.conf`: which clients may
//! connect, to which databases, as which users, and how they must authenticate.
//!
//! The file format is a subset of `pg_hba.conf`:
//!
//! ```text
//! # TYPE     DATABASE    USER         ADDRESS          METHOD
//! host       all         app          10.0.0.0/8       scram-sha-256
//! hostssl    sales,hr    alice,bob    192.168.1.7      md5
//! hostnossl  all         all          127.0.0.1 255.255.255.255  trust
//! host       all         all          all              reject
//! ```
//!
//! Rules are tried in order and the first whose connection type, database, user and
//! address all match decides the method; a connection no rule matches is rejected.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// How a client has to authenticate to sluice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum AuthMethod {
    /// Accept without a password.
    #[serde(rename = "trust")]
    Trust,
    /// Refuse the connection.
    #[serde(rename = "reject")]
    Reject,
    /// md5 challenge–response against the user's md5 hash or password.
    #[serde(rename = "md5")]
    Md5,
    /// SCRAM-SHA-256 against the user's verifier or password.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
}

impl AuthMethod {
    /// The name used in rule files and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Reject => "reject",
            AuthMethod::Md5 => "md5",
            AuthMethod::ScramSha256 => "scram-sha-256",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trust" => Ok(AuthMethod::Trust),
            "reject" => Ok(AuthMethod::Reject),
            "md5" => Ok(AuthMethod::Md5),
            "scram-sha-256" => Ok(AuthMethod::ScramSha256),
            "password" | "ident" | "peer" | "gss" | "sspi" | "pam" | "ldap" | "radius"
            | "cert" | "bsd" | "oauth" => Err(format!(
                "authentication method \"{s}\" is not supported (use trust, reject, md5 or scram-sha-256)"
            )),
            _ => Err(format!(
                "unknown authentication method \"{s}\" (expected trust, reject, md5 or scram-sha-256)"
            )),
        }
    }
}

/// Which connections a rule applies to, by transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionType {
    /// `host`: with or without TLS.
    Any,
    /// `hostssl`: only over TLS.
    Tls,
    /// `hostnossl`: only without TLS.
    NoTls,
}

impl ConnectionType {
    fn matches(self, tls: bool) -> bool {
        match self {
            ConnectionType::Any => true,
            ConnectionType::Tls => tls,
            ConnectionType::NoTls => !tls,
        }
    }
}

/// Which client addresses a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address {
    All,
    Net(IpNet),
}

impl Address {
    fn matches(&self, addr: IpAddr) -> bool {
        match self {
            Address::All => true,
            Address::Net(net) => {
                if net.contains(&addr) {
                    return true;
                }
                // A client on a dual-stack socket shows up as ::ffff:a.b.c.d; IPv4 rules
                // apply to it as to a plain IPv4 client.
                match addr {
                    IpAddr::V6(v6) => v6
                        .to_ipv4_mapped()
                        .is_some_and(|v4| net.contains(&IpAddr::V4(v4))),
                    IpAddr::V4(_) => false,
                }
            }
        }
    }
}

/// A database or user column: `all`, or a list of names (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    All,
    Names(Vec<String>),
}

impl Match {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Match::All => true,
            Match::Names(names) => names.iter().any(|n| n == name),
        }
    }
}

/// One access rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaRule {
    pub connection: ConnectionType,
    pub databases: Match,
    pub users: Match,
    pub source: Address,
    pub method: AuthMethod,
}

impl HbaRule {
    pub fn matches(&self, addr: IpAddr, database: &str, user: &str, tls: bool) -> bool {
        self.connection.matches(tls)
            && self.databases.matches(database)
            && self.users.matches(user)
            && self.source.matches(addr)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HbaError {
    #[error("line {line}: {message}")]
    Invalid { line: usize, message: String },
    #[error("the access rules contain no rules, so every connection would be rejected")]
    NoRules,
}

/// An ordered list of access rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HbaRules(Vec<HbaRule>);

impl HbaRules {
    /// Parses rules in `pg_hba.conf` syntax. Supported: connection types `host`,
    /// `hostssl`, `hostnossl`; comma-separated database and user lists, `all`, and
    /// double-quoted names (a quoted `"all"` is a name, not the keyword); addresses as
    /// CIDR, a bare IP address (one host), an address followed by a netmask column, or
    /// `all`; methods `trust`, `reject`, `md5`, `scram-sha-256`; `#` comments.
    pub fn parse(text: &str) -> Result<HbaRules, HbaError> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let invalid = |message: String| HbaError::Invalid {
                line: line_no,
                message,
            };
            let fields = tokenize(line).map_err(invalid)?;
            if fields.is_empty() {
                continue;
            }
            rules.push(parse_rule(&fields).map_err(invalid)?);
        }
        if rules.is_empty() {
            return Err(HbaError::NoRules);
        }
        Ok(HbaRules(rules))
    }

    pub fn from_rules(rules: Vec<HbaRule>) -> Self {
        HbaRules(rules)
    }

    pub fn rules(&self) -> &[HbaRule] {
        &self.0
    }

    /// The method of the first rule matching the connection; `Reject` when none does.
    pub fn method_for(&self, addr: IpAddr, database: &str, user: &str, tls: bool) -> AuthMethod {
        self.0
            .iter()
            .find(|r| r.matches(addr, database, user, tls))
            .map_or(AuthMethod::Reject, |r| r.method)
    }
}

/// One comma-separated item of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    quoted: bool,
}

impl Token {
    fn is_keyword(&self, keyword: &str) -> bool {
        !self.quoted && self.text == keyword
    }
}

/// Splits a line into whitespace-separated fields, each a list of comma-separated
/// tokens. Double quotes protect whitespace, commas and `#`; `""` inside quotes is a
/// literal quote. A comma may be followed by whitespace before the next item.
fn tokenize(line: &str) -> Result<Vec<Vec<Token>>, String> {
    let mut fields: Vec<Vec<Token>> = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            _ => {}
        }
        let mut field = Vec::new();
        loop {
            let mut text = String::new();
            let mut quoted = false;
            let mut in_quotes = false;
            while let Some(&c) = chars.peek() {
                if in_quotes {
                    chars.next();
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            text.push('"');
                        } else {
                            in_quotes = false;
                        }
                    } else {
                        text.push(c);
                    }
                } else if c == '"' {
                    chars.next();
                    in_quotes = true;
                    quoted = true;
                } else if c.is_whitespace() || c == ',' || c == '#' {
                    break;
                } else {
                    chars.next();
                    text.push(c);
                }
            }
            if in_quotes {
                return Err("unterminated quoted string".into());
            }
            if text.is_empty() && !quoted {
                return Err("empty item in a list (stray comma?)".into());
            }
            field.push(Token { text, quoted });
            if chars.peek() == Some(&',') {
                chars.next();
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                continue;
            }
            break;
        }
        fields.push(field);
    }
    Ok(fields)
}

fn single<'a>(field: &'a [Token], what: &str) -> Result<&'a Token, String> {
    match field {
        [t] => Ok(t),
        _ => Err(format!(
            "the {what} column takes a single value, not a list"
        )),
    }
}

fn parse_rule(fields: &[Vec<Token>]) -> Result<HbaRule, String> {
    let kind = single(&fields[0], "connection type")?;
    let connection = match (kind.quoted, kind.text.as_str()) {
        (false, "host") => ConnectionType::Any,
        (false, "hostssl") => ConnectionType::Tls,
        (false, "hostnossl") => ConnectionType::NoTls,
        (false, "local") => {
            return Err("\"local\" rules (Unix-domain sockets) are not supported".into())
        }
        (false, "hostgssenc" | "hostnogssenc") => {
            return Err(format!(
                "connection type \"{}\" is not supported (GSSAPI encryption)",
                kind.text
            ))
        }
        _ => {
            return Err(format!(
                "unknown connection type \"{}\" (expected host, hostssl or hostnossl)",
                kind.text
            ))
        }
    };
    let databases = fields
        .get(1)
        .ok_or("missing database, user, address and method columns")?;
    let users = fields
        .get(2)
        .ok_or("missing user, address and method columns")?;
    let address = fields.get(3).ok_or("missing address and method columns")?;
    let databases = parse_names(databases, "database")?;
    let users = parse_names(users, "user")?;

    let address = single(address, "address")?;
    let mut rest = &fields[4..];
    let source = if address.is_keyword("all") {
        Address::All
    } else if let Some((ip, prefix)) = address.text.split_once('/') {
        let ip = parse_ip(ip, &address.text)?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("invalid prefix length in address \"{}\"", address.text))?;
        let net = IpNet::new(ip, prefix)
            .map_err(|_| format!("prefix length too long in address \"{}\"", address.text))?;
        Address::Net(net.trunc())
    } else {
        let ip = parse_ip(&address.text, &address.text)?;
        // A bare address followed by two more columns: the first of them is a netmask,
        // as in pg_hba.conf.
        if rest.len() >= 2 {
            let mask_tok = single(&rest[0], "netmask")?;
            let mask: IpAddr = mask_tok
                .text
                .parse()
                .map_err(|_| format!("invalid netmask \"{}\"", mask_tok.text))?;
            if mask.is_ipv4() != ip.is_ipv4() {
                return Err(format!(
                    "netmask \"{}\" and address \"{}\" are of different IP versions",
                    mask_tok.text, address.text
                ));
            }
            let net = IpNet::with_netmask(ip, mask)
                .map_err(|_| format!("invalid netmask \"{}\"", mask_tok.text))?;
            rest = &rest[1..];
            Address::Net(net.trunc())
        } else {
            let len = if ip.is_ipv4() { 32 } else { 128 };
            Address::Net(IpNet::new(ip, len).expect("full-length prefix is valid"))
        }
    };

    let method = match rest {
        [] => return Err("missing authentication method".into()),
        [m] => single(m, "method")?,
        [_, extra, ..] => {
            return Err(format!(
                "unexpected \"{}\" after the authentication method (options are not supported)",
                extra[0].text
            ))
        }
    };
    if method.quoted {
        return Err(format!(
            "authentication method \"{}\" must not be quoted",
            method.text
        ));
    }
    let method = AuthMethod::from_str(&method.text)?;

    Ok(HbaRule {
        connection,
        databases,
        users,
        source,
        method,
    })
}

fn parse_ip(text: &str, whole: &str) -> Result<IpAddr, String> {
    text.parse().map_err(|_| {
        if matches!(whole, "samehost" | "samenet") {
            format!("address keyword \"{whole}\" is not supported")
        } else {
            format!("invalid address \"{whole}\" (expected an IP address, CIDR, or all; host names are not supported)")
        }
    })
}

fn parse_names(field: &[Token], what: &str) -> Result<Match, String> {
    let mut names = Vec::with_capacity(field.len());
    let mut all = false;
    for t in field {
        if t.is_keyword("all") {
            all = true;
            continue;
        }
        if !t.quoted {
            if matches!(
                t.text.as_str(),
                "sameuser" | "samerole" | "samegroup" | "replication"
            ) {
                return Err(format!(
                    "keyword \"{}\" in the {what} column is not supported",
                    t.text
                ));
            }
            if t.text.starts_with('+') || t.text.starts_with('@') {
                return Err(format!(
                    "\"{}\" in the {what} column: group (+) and file (@) references are not supported",
                    t.text
                ));
            }
            if t.text.starts_with('/') {
                return Err(format!(
                    "\"{}\" in the {what} column: regular expressions are not supported",
                    t.text
                ));
            }
        }
        if t.text.is_empty() {
            return Err(format!("empty {what} name"));
        }
        names.push(t.text.clone());
    }
    Ok(if all { Match::All } else { Match::Names(names) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn err_line(text: &str) -> (usize, String) {
        match HbaRules::parse(text).unwrap_err() {
            HbaError::Invalid { line, message } => (line, message),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parses_example() {
        let rules = HbaRules::parse(
            "# TYPE  DATABASE USER ADDRESS METHOD\n\
             \n\
             host    all      app  10.0.0.0/8 scram-sha-256  # trailing comment\n\
             hostssl sales,hr alice,bob 192.168.1.7 md5\n\
             hostnossl all    all  127.0.0.1 255.255.255.0 trust\n\
             host    all      all  all     reject\n",
        )
        .unwrap();
        let r = rules.rules();
        assert_eq!(r.len(), 4);
        assert_eq!(
            r[0],
            HbaRule {
                connection: ConnectionType::Any,
                databases: Match::All,
                users: Match::Names(vec!["app".into()]),
                source: Address::Net("10.0.0.0/8".parse().unwrap()),
                method: AuthMethod::ScramSha256,
            }
        );
        assert_eq!(r[1].connection, ConnectionType::Tls);
        assert_eq!(
            r[1].databases,
            Match::Names(vec!["sales".into(), "hr".into()])
        );
        assert_eq!(r[1].users, Match::Names(vec!["alice".into(), "bob".into()]));
        assert_eq!(r[1].source, Address::Net("192.168.1.7/32".parse().unwrap()));
        assert_eq!(r[2].connection, ConnectionType::NoTls);
        assert_eq!(r[2].source, Address::Net("127.0.0.0/24".parse().unwrap()));
        assert_eq!(r[2].method, AuthMethod::Trust);
        assert_eq!(r[3].source, Address::All);
        assert_eq!(r[3].method, AuthMethod::Reject);
    }

    #[test]
    fn first_match_wins_and_default_is_reject() {
        let rules = HbaRules::parse(
            "host appdb app 127.0.0.1/32 md5\n\
             host all blocked all reject\n\
             host all all 10.0.0.0/8 scram-sha-256\n\
             host all all 10.1.0.0/16 trust\n",
        )
        .unwrap();
        let lo = ip("127.0.0.1");
        assert_eq!(rules.method_for(lo, "appdb", "app", false), AuthMethod::Md5);
        // Other database: falls through; 127/8 has no other rule.
        assert_eq!(
            rules.method_for(lo, "other", "app", false),
            AuthMethod::Reject
        );
        assert_eq!(
            rules.method_for(ip("10.1.2.3"), "x", "blocked", false),
            AuthMethod::Reject
        );
        // The /8 rule comes first, so the /16 trust rule is never reached.
        assert_eq!(
            rules.method_for(ip("10.1.2.3"), "x", "bob", false),
            AuthMethod::ScramSha256
        );
        assert_eq!(
            rules.method_for(ip("192.168.0.1"), "appdb", "app", false),
            AuthMethod::Reject
        );
        assert_eq!(
            HbaRules::default().method_for(lo, "a", "b", true),
            AuthMethod::Reject
        );
    }

    #[test]
    fn tls_connection_types() {
        let rules = HbaRules::parse(
            "hostssl all all all scram-sha-256\n\
             hostnossl all all 127.0.0.1 trust\n",
        )
        .unwrap();
        let lo = ip("127.0.0.1");
        assert_eq!(
            rules.method_for(lo, "d", "u", true),
            AuthMethod::ScramSha256
        );
        assert_eq!(rules.method_for(lo, "d", "u", false), AuthMethod::Trust);
        assert_eq!(
            rules.method_for(ip("10.0.0.1"), "d", "u", false),
            AuthMethod::Reject
        );
        let any = HbaRules::parse("host all all all md5").unwrap();
        assert_eq!(any.method_for(lo, "d", "u", true), AuthMethod::Md5);
        assert_eq!(any.method_for(lo, "d", "u", false), AuthMethod::Md5);
    }

    #[test]
    fn ipv4_mapped_ipv6_clients() {
        let rules = HbaRules::parse(
            "host all all 127.0.0.0/8 trust\n\
             host all all ::1 md5\n\
             host all all ::ffff:10.0.0.0/104 scram-sha-256\n",
        )
        .unwrap();
        assert_eq!(
            rules.method_for(ip("::ffff:127.0.0.1"), "d", "u", false),
            AuthMethod::Trust
        );
        assert_eq!(
            rules.method_for(ip("127.9.9.9"), "d", "u", false),
            AuthMethod::Trust
        );
        assert_eq!(
            rules.method_for(ip("::1"), "d", "u", false),
            AuthMethod::Md5
        );
        // An IPv6 rule written for mapped addresses still matches them as written.
        assert_eq!(
            rules.method_for(ip("::ffff:10.1.1.1"), "d", "u", false),
            AuthMethod::ScramSha256
        );
        assert_eq!(
            rules.method_for(ip("::ffff:192.168.0.1"), "d", "u", false),
            AuthMethod::Reject
        );
        // An IPv4 rule does not match a non-mapped IPv6 address with the same low bits.
        assert_eq!(
            rules.method_for(ip("::7f00:1"), "d", "u", false),
            AuthMethod::Reject
        );
    }

    #[test]
    fn ipv6_rules() {
        let rules = HbaRules::parse(
            "host all all fe80::/10 md5\nhost all all 2001:db8::1 ffff:ffff:: trust\n",
        )
        .unwrap();
        assert_eq!(
            rules.method_for(ip("fe80::1"), "d", "u", false),
            AuthMethod::Md5
        );
        assert_eq!(
            rules.method_for(ip("2001:db8:9::1"), "d", "u", false),
            AuthMethod::Trust
        );
        assert_eq!(
            rules.method_for(ip("2001:db9::1"), "d", "u", false),
            AuthMethod::Reject
        );
        assert_eq!(
            rules.method_for(ip("10.0.0.1"), "d", "u", false),
            AuthMethod::Reject
        );
    }

    #[test]
    fn cidr_with_host_bits_is_normalized() {
        let rules = HbaRules::parse("host all all 10.1.2.3/8 trust").unwrap();
        assert_eq!(
            rules.rules()[0].source,
            Address::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            rules.method_for(ip("10.200.0.1"), "d", "u", false),
            AuthMethod::Trust
        );
    }

    #[test]
    fn lists_quotes_and_all() {
        let rules = HbaRules::parse(
            "host \"all\",\"my db\" \"Alice\", bob all md5\n\
             host db1,all u all trust\n",
        )
        .unwrap();
        let r = rules.rules();
        assert_eq!(
            r[0].databases,
            Match::Names(vec!["all".into(), "my db".into()])
        );
        assert_eq!(r[0].users, Match::Names(vec!["Alice".into(), "bob".into()]));
        assert_eq!(r[1].databases, Match::All);
        let lo = ip("127.0.0.1");
        assert_eq!(
            rules.method_for(lo, "my db", "Alice", false),
            AuthMethod::Md5
        );
        // Names are case-sensitive.
        assert_eq!(
            rules.method_for(lo, "my db", "alice", false),
            AuthMethod::Reject
        );
        // A quoted "all" is a database literally named all.
        assert_eq!(rules.method_for(lo, "all", "bob", false), AuthMethod::Md5);
        assert_eq!(
            rules.method_for(lo, "other", "bob", false),
            AuthMethod::Reject
        );
        assert_eq!(rules.method_for(lo, "other", "u", false), AuthMethod::Trust);

        let q = HbaRules::parse("host \"a\"\"b\" \"x#y\" all trust # c").unwrap();
        assert_eq!(q.rules()[0].databases, Match::Names(vec!["a\"b".into()]));
        assert_eq!(q.rules()[0].users, Match::Names(vec!["x#y".into()]));
    }

    #[test]
    fn errors_carry_line_and_reason() {
        let cases: &[(&str, usize, &str)] = &[
            ("# c\nhost all all all password\n", 2, "not supported"),
            ("host all all all bogus", 1, "unknown authentication method"),
            ("\n\nhost all all", 3, "missing address"),
            ("host all all all", 1, "missing authentication method"),
            ("host", 1, "missing database"),
            ("host all", 1, "missing user"),
            ("local all all trust", 1, "local"),
            ("hostgssenc all all all trust", 1, "not supported"),
            ("hots all all all trust", 1, "unknown connection type"),
            ("host all all 10.0.0.0/33 trust", 1, "prefix length"),
            ("host all all 10.0.0.0/x trust", 1, "invalid prefix length"),
            ("host all all example.com trust", 1, "host names"),
            ("host all all samenet trust", 1, "samenet"),
            (
                "host all all 10.0.0.1 255.0.255.0 trust",
                1,
                "invalid netmask",
            ),
            (
                "host all all 10.0.0.1 ffff:: trust",
                1,
                "different IP versions",
            ),
            (
                "host all all 10.0.0.0/8 trust x=y",
                1,
                "options are not supported",
            ),
            (
                "host all all 10.0.0.0/8,10.1.0.0/16 trust",
                1,
                "single value",
            ),
            ("host a,,b all all trust", 1, "empty item"),
            ("host all, all all trust", 1, "invalid address \"trust\""),
            ("host \"unterminated all all trust", 1, "unterminated"),
            ("host sameuser all all trust", 1, "sameuser"),
            ("host all +admins all trust", 1, "group"),
            ("host all @users.txt all trust", 1, "file"),
            ("host all all all \"trust\"", 1, "quoted"),
            ("host \"\" all all trust", 1, "empty database name"),
        ];
        for (text, line, needle) in cases {
            let (l, msg) = err_line(text);
            assert_eq!(l, *line, "{text:?}: {msg}");
            assert!(msg.contains(needle), "{text:?}: {msg:?} lacks {needle:?}");
        }
        let shown = HbaRules::parse("host all all all x")
            .unwrap_err()
            .to_string();
        assert!(shown.starts_with("line 1: "), "{shown}");
    }

    #[test]
    fn empty_file_is_an_error() {
        assert_eq!(HbaRules::parse("").unwrap_err(), HbaError::NoRules);
        assert_eq!(
            HbaRules::parse("# only comments\n   \n").unwrap_err(),
            HbaError::NoRules
        );
    }

    #[test]
    fn from_rules_and_method_names() {
        let rules = HbaRules::from_rules(vec![HbaRule {
            connection: ConnectionType::Any,
            databases: Match::Names(vec!["d".into()]),
            users: Match::All,
            source: Address::All,
            method: AuthMethod::Md5,
        }]);
        assert_eq!(
            rules.method_for(ip("1.2.3.4"), "d", "x", false),
            AuthMethod::Md5
        );
        assert_eq!(
            rules.method_for(ip("1.2.3.4"), "e", "x", false),
            AuthMethod::Reject
        );
        for m in [
            AuthMethod::Trust,
            AuthMethod::Reject,
            AuthMethod::Md5,
            AuthMethod::ScramSha256,
        ] {
            assert_eq!(m.as_str().parse::<AuthMethod>().unwrap(), m);
            assert_eq!(m.to_string(), m.as_str());
        }
    }

    #[test]
    fn method_deserializes_from_lowercase_names() {
        #[derive(serde::Deserialize)]
        struct W {
            m: AuthMethod,
        }
        let w: W = toml::from_str("m = \"scram-sha-256\"").unwrap();
        assert_eq!(w.m, AuthMethod::ScramSha256);
        let w: W = toml::from_str("m = \"trust\"").unwrap();
        assert_eq!(w.m, AuthMethod::Trust);
        assert!(toml::from_str::<W>("m = \"Trust\"").is_err());
    }
}
