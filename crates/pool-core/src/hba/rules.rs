//! Access rules and how a connection is matched against them: connection type,
//! database, user and address; the first rule that matches decides the method.

use std::net::IpAddr;

use ipnet::IpNet;

use super::methods::HbaMethod;

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

/// One access rule; `M` is the METHOD words of the protocol it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<M> {
    pub connection: ConnectionType,
    pub databases: Match,
    pub users: Match,
    pub source: Address,
    pub method: M,
}

impl<M> Rule<M> {
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

/// An ordered list of access rules (parsed by [`Rules::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules<M>(Vec<Rule<M>>);

impl<M> Default for Rules<M> {
    fn default() -> Self {
        Rules(Vec::new())
    }
}

impl<M: HbaMethod> Rules<M> {
    pub fn from_rules(rules: Vec<Rule<M>>) -> Self {
        Rules(rules)
    }

    pub fn rules(&self) -> &[Rule<M>] {
        &self.0
    }

    /// The method of the first rule matching the connection; `Reject` when none does.
    pub fn method_for(&self, addr: IpAddr, database: &str, user: &str, tls: bool) -> M {
        self.0
            .iter()
            .find(|r| r.matches(addr, database, user, tls))
            .map_or(M::REJECT, |r| r.method)
    }
}
