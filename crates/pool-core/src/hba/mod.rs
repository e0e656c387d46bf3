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

//!
//! The METHOD column is read in the words of the protocol the rules are for:
//! [`PgAuthMethod`] for PostgreSQL clients, [`MysqlAuthMethod`] for MySQL clients
//! (which also accepts the PostgreSQL words, so one file can serve both sides).

mod methods;
mod parse;
mod rules;

pub use methods::{HbaMethod, MysqlAuthMethod, PgAuthMethod};
pub use rules::{Address, ConnectionType, HbaError, Match, Rule, Rules};

/// PostgreSQL's methods under their historical name.
pub type AuthMethod = PgAuthMethod;
/// Access rules for PostgreSQL clients.
pub type HbaRules = Rules<PgAuthMethod>;
/// One access rule for PostgreSQL clients.
pub type HbaRule = Rule<PgAuthMethod>;
/// Access rules for MySQL clients.
pub type MysqlHbaRules = Rules<MysqlAuthMethod>;

#[cfg(test)]
mod tests;
