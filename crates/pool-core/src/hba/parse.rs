//! Reading access rules from text in `pg_hba.conf` syntax: tokens, columns, and the
//! errors that name the line and what is wrong with it.

use std::net::IpAddr;

use ipnet::IpNet;

use super::methods::HbaMethod;
use super::rules::{Address, ConnectionType, HbaError, Match, Rule, Rules};

impl<M: HbaMethod> Rules<M> {
    /// Parses rules in `pg_hba.conf` syntax. Supported: connection types `host`,
    /// `hostssl`, `hostnossl`; comma-separated database and user lists, `all`, and
    /// double-quoted names (a quoted `"all"` is a name, not the keyword); addresses as
    /// CIDR, a bare IP address (one host), an address followed by a netmask column, or
    /// `all`; the methods `M` reads; `#` comments.
    pub fn parse(text: &str) -> Result<Rules<M>, HbaError> {
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
        Ok(Rules::from_rules(rules))
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

fn parse_rule<M: HbaMethod>(fields: &[Vec<Token>]) -> Result<Rule<M>, String> {
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
    let method = M::from_str(&method.text)?;

    Ok(Rule {
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
