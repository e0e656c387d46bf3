//! The METHOD column of access rules, per protocol: what a matching client must do to
//! get in. PostgreSQL names its challenge–response methods; MySQL clients prove their
//! password with whichever plugin sluice can check for the user, so their rules only
//! say whether a password is needed.

use std::fmt;
use std::str::FromStr;

/// A method word set for one protocol's rules.
pub trait HbaMethod: Copy + Eq + fmt::Debug + fmt::Display + FromStr<Err = String> {
    /// What a connection that no rule matches gets.
    const REJECT: Self;
}

/// How a PostgreSQL client has to authenticate to sluice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum PgAuthMethod {
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

impl PgAuthMethod {
    /// The name used in rule files and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            PgAuthMethod::Trust => "trust",
            PgAuthMethod::Reject => "reject",
            PgAuthMethod::Md5 => "md5",
            PgAuthMethod::ScramSha256 => "scram-sha-256",
        }
    }
}

impl fmt::Display for PgAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PgAuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trust" => Ok(PgAuthMethod::Trust),
            "reject" => Ok(PgAuthMethod::Reject),
            "md5" => Ok(PgAuthMethod::Md5),
            "scram-sha-256" => Ok(PgAuthMethod::ScramSha256),
            _ => Err(refused(s)),
        }
    }
}

/// Why a METHOD word is refused: PostgreSQL methods sluice does not implement are
/// named as such, anything else is unknown.
fn refused(s: &str) -> String {
    match s {
        "password" | "ident" | "peer" | "gss" | "sspi" | "pam" | "ldap" | "radius" | "cert"
        | "bsd" | "oauth" => format!(
            "authentication method \"{s}\" is not supported (use trust, reject, md5 or scram-sha-256)"
        ),
        _ => format!(
            "unknown authentication method \"{s}\" (expected trust, reject, md5 or scram-sha-256)"
        ),
    }
}

impl HbaMethod for PgAuthMethod {
    const REJECT: Self = PgAuthMethod::Reject;
}

/// How a MySQL client has to authenticate to sluice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MysqlAuthMethod {
    /// Accept without a password.
    Trust,
    /// Refuse the connection.
    Reject,
    /// A password checked with the plugin the client uses (caching_sha2_password,
    /// mysql_native_password, or mysql_clear_password over TLS), against the user's
    /// secrets. `md5` and `scram-sha-256` are read as this, so a rule file written for
    /// PostgreSQL means the same on the MySQL side.
    Password,
}

impl MysqlAuthMethod {
    /// The name used in rule files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            MysqlAuthMethod::Trust => "trust",
            MysqlAuthMethod::Reject => "reject",
            MysqlAuthMethod::Password => "password",
        }
    }
}

impl fmt::Display for MysqlAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MysqlAuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trust" => Ok(MysqlAuthMethod::Trust),
            "reject" => Ok(MysqlAuthMethod::Reject),
            "password" | "md5" | "scram-sha-256" => Ok(MysqlAuthMethod::Password),
            // Refused in the same words as on the PostgreSQL side.
            _ => Err(refused(s)),
        }
    }
}

impl HbaMethod for MysqlAuthMethod {
    const REJECT: Self = MysqlAuthMethod::Reject;
}
