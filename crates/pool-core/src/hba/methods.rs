//! The METHOD column of access rules, per protocol: what a matching client must do to
//! get in. PostgreSQL names its challenge–response methods; MySQL clients prove their
//! password with whichever plugin sluice can check for the user, so their rules only
//! say whether a password is needed.

use std::fmt;
use std::str::FromStr;

/// A method word set for one protocol's rules.
pub trait HbaMethod:
    Copy + Eq + fmt::Debug + fmt::Display + FromStr<Err = String> + 'static
{
    /// What a connection that no rule matches gets.
    const REJECT: Self;
    /// Each word a rule file may use and the method it names; a method's first word
    /// is its name.
    const WORDS: &'static [(&'static str, Self)];

    /// The name used in rule files and logs.
    fn name(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(word, _)| word)
    }

    /// The method a rule file's word names.
    fn from_word(word: &str) -> Result<Self, String> {
        Self::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, m)| *m)
            .ok_or_else(|| refused(word))
    }
}

/// `as_str`, `Display` and `FromStr` of a method type, by its [`HbaMethod::WORDS`].
macro_rules! word_traits {
    ($method:ty) => {
        impl $method {
            /// The name used in rule files, configuration and logs.
            pub fn as_str(self) -> &'static str {
                self.name()
            }
        }

        impl fmt::Display for $method {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $method {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_word(s)
            }
        }
    };
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

word_traits!(PgAuthMethod);

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
    const WORDS: &'static [(&'static str, Self)] = &[
        ("trust", PgAuthMethod::Trust),
        ("reject", PgAuthMethod::Reject),
        ("md5", PgAuthMethod::Md5),
        ("scram-sha-256", PgAuthMethod::ScramSha256),
    ];
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

word_traits!(MysqlAuthMethod);

impl HbaMethod for MysqlAuthMethod {
    const REJECT: Self = MysqlAuthMethod::Reject;
    // Other words are refused in the same terms as on the PostgreSQL side.
    const WORDS: &'static [(&'static str, Self)] = &[
        ("trust", MysqlAuthMethod::Trust),
        ("reject", MysqlAuthMethod::Reject),
        ("password", MysqlAuthMethod::Password),
        ("md5", MysqlAuthMethod::Password),
        ("scram-sha-256", MysqlAuthMethod::Password),
    ];
}
