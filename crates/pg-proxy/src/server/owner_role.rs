//! A route's owner role: the stable role its server connections act as, whatever user
//! logged them in. A Vault dynamic role makes a new login user for every lease; work
//! done as that user would leave objects Vault cannot drop with it, so the route asks
//! PostgreSQL to run the session as the owner role instead.
//!
//! The role travels in the StartupMessage as `options=-c role=<name>`, not as a `SET
//! ROLE` after login: a setting from the startup packet is the session's default, so
//! `RESET ROLE`, `RESET ALL` and `DISCARD ALL` (the reset before a server connection
//! serves another client) return to it rather than to the login user.

use std::fmt;

/// The longest role name PostgreSQL keeps (`NAMEDATALEN - 1` bytes).
const MAX_NAME_BYTES: usize = 63;

/// A role name fit for the `role` setting of a startup packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnerRole(String);

/// Why a name cannot be an owner role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerRoleError {
    #[error("must not be empty")]
    Empty,
    #[error("is longer than {MAX_NAME_BYTES} bytes, PostgreSQL's limit for a role name")]
    TooLong,
    #[error("must not contain control characters")]
    Control,
    #[error("is a keyword where a role is named, not a role name")]
    Reserved(String),
    #[error("names starting with pg_ are reserved for PostgreSQL's own roles")]
    SystemPrefix,
}

impl OwnerRole {
    /// Checks `name` against PostgreSQL's rules for a role name, as written in
    /// `pg_roles` (case is kept: `App_Owner` is not `app_owner`).
    pub fn parse(name: &str) -> Result<OwnerRole, OwnerRoleError> {
        if name.is_empty() {
            return Err(OwnerRoleError::Empty);
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(OwnerRoleError::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(OwnerRoleError::Control);
        }
        // `role = none` means "no role"; the others are keywords, not role names.
        let lower = name.to_ascii_lowercase();
        if [
            "none",
            "public",
            "current_user",
            "session_user",
            "current_role",
        ]
        .contains(&lower.as_str())
        {
            return Err(OwnerRoleError::Reserved(name.to_owned()));
        }
        if lower.starts_with("pg_") {
            return Err(OwnerRoleError::SystemPrefix);
        }
        Ok(OwnerRole(name.to_owned()))
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// The value of the startup packet's `options` parameter that sets the role:
    /// `-c role=<name>`, with the backslash escapes PostgreSQL reads in `options`
    /// (a space or a backslash in the name preceded by a backslash), so that a name
    /// cannot split into further options.
    pub fn startup_options(&self) -> String {
        let mut out = String::from("-c role=");
        for ch in self.0.chars() {
            if ch == '\\' || ch.is_whitespace() {
                out.push('\\');
            }
            out.push(ch);
        }
        out
    }
}

impl fmt::Display for OwnerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_unchanged() {
        let role = OwnerRole::parse("app_owner").unwrap();
        assert_eq!(role.startup_options(), "-c role=app_owner");
        assert_eq!(role.name(), "app_owner");
    }

    #[test]
    fn spaces_and_backslashes_are_escaped() {
        let role = OwnerRole::parse("odd owner\\x").unwrap();
        assert_eq!(role.startup_options(), "-c role=odd\\ owner\\\\x");
        let role = OwnerRole::parse("a -c work_mem=1").unwrap();
        assert_eq!(role.startup_options(), "-c role=a\\ -c\\ work_mem=1");
    }

    #[test]
    fn names_postgres_would_not_take_are_refused() {
        assert_eq!(OwnerRole::parse(""), Err(OwnerRoleError::Empty));
        assert_eq!(
            OwnerRole::parse(&"x".repeat(64)),
            Err(OwnerRoleError::TooLong)
        );
        assert!(OwnerRole::parse(&"x".repeat(63)).is_ok());
        assert_eq!(OwnerRole::parse("a\nb"), Err(OwnerRoleError::Control));
        assert_eq!(
            OwnerRole::parse("None"),
            Err(OwnerRoleError::Reserved("None".into()))
        );
        assert!(matches!(
            OwnerRole::parse("public"),
            Err(OwnerRoleError::Reserved(_))
        ));
        assert_eq!(
            OwnerRole::parse("pg_monitor"),
            Err(OwnerRoleError::SystemPrefix)
        );
    }
}
