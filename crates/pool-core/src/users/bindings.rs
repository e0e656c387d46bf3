//! Which users may reach which database. A database bound to users (its
//! `users = [...]`) admits only them; a database bound to none admits every user of the
//! users file. Checked before a client authenticates, like an access rule.

use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Default)]
pub struct DatabaseUsers {
    bound: HashMap<String, HashSet<String>>,
}

impl DatabaseUsers {
    /// Binds `database` to `users`: from now on only they may reach it.
    pub fn bind(&mut self, database: &str, users: impl IntoIterator<Item = String>) {
        self.bound
            .entry(database.to_owned())
            .or_default()
            .extend(users);
    }

    /// Whether `user` may reach `database`.
    pub fn admits(&self, database: &str, user: &str) -> bool {
        self.bound
            .get(database)
            .is_none_or(|users| users.contains(user))
    }

    /// Whether `database` is bound to users.
    pub fn is_bound(&self, database: &str) -> bool {
        self.bound.contains_key(database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_database_admits_only_its_users() {
        let mut d = DatabaseUsers::default();
        d.bind("orders", ["orders_app".to_owned()]);
        assert!(d.admits("orders", "orders_app"));
        assert!(!d.admits("orders", "billing_app"));
        // Not bound: open to every user of the users file.
        assert!(d.admits("scratch", "billing_app"));
        assert!(d.is_bound("orders") && !d.is_bound("scratch"));
    }
}
