//! Tests of access rules: parsing, matching, and each protocol's method words.

use std::net::IpAddr;

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
    let rules =
        HbaRules::parse("host all all fe80::/10 md5\nhost all all 2001:db8::1 ffff:ffff:: trust\n")
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

#[test]
fn mysql_rules_read_postgres_words_as_password() {
    let rules = MysqlHbaRules::parse(
        "host a all all md5\n\
         host b all all scram-sha-256\n\
         host c all all password\n\
         host d all all trust\n\
         host e all all reject\n",
    )
    .unwrap();
    let lo = ip("127.0.0.1");
    for db in ["a", "b", "c"] {
        assert_eq!(
            rules.method_for(lo, db, "u", false),
            MysqlAuthMethod::Password
        );
    }
    assert_eq!(
        rules.method_for(lo, "d", "u", false),
        MysqlAuthMethod::Trust
    );
    assert_eq!(
        rules.method_for(lo, "e", "u", false),
        MysqlAuthMethod::Reject
    );
    assert_eq!(
        rules.method_for(lo, "f", "u", false),
        MysqlAuthMethod::Reject
    );
    assert_eq!(
        MysqlHbaRules::default().method_for(lo, "a", "u", false),
        MysqlAuthMethod::Reject
    );
    for m in [
        MysqlAuthMethod::Trust,
        MysqlAuthMethod::Reject,
        MysqlAuthMethod::Password,
    ] {
        assert_eq!(m.as_str().parse::<MysqlAuthMethod>().unwrap(), m);
        assert_eq!(m.to_string(), m.as_str());
    }
}

#[test]
fn mysql_rules_refuse_what_postgres_rules_refuse() {
    let message = |text: &str| match MysqlHbaRules::parse(text).unwrap_err() {
        HbaError::Invalid { message, .. } => message,
        other => panic!("unexpected {other:?}"),
    };
    assert!(message("host all all all ident").contains("not supported"));
    assert!(message("host all all all bogus").contains("unknown authentication method"));
    assert!(message("local all all trust").contains("local"));
    // "password" is a MySQL word only: PostgreSQL's cleartext method stays refused.
    assert!(HbaRules::parse("host all all all password").is_err());
}
