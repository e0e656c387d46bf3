//! The routes a side serves, each with what it was built from. A reload builds a new
//! table: a route whose identity is unchanged is carried over with its pool (only the
//! pool's sizing and timing are applied to it), any other is built anew and the one it
//! replaces is closed. Both sides decide this the same way, here.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{CredentialSettings, DatabaseSettings};

/// What a route is built from, besides its pool's sizing and timing.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteIdentity<C, R> {
    pub cluster_name: String,
    pub cluster: C,
    pub route: R,
    pub credentials: CredentialSettings,
}

impl<C: Clone, R: Clone> RouteIdentity<C, R> {
    pub fn of(db: &DatabaseSettings<R>, cluster: &C) -> Self {
        Self {
            cluster_name: db.cluster.clone(),
            cluster: cluster.clone(),
            route: db.route.clone(),
            credentials: db.credentials.clone(),
        }
    }
}

/// Routes by database name, with their identities.
pub struct RouteTable<I, T> {
    entries: HashMap<String, (I, Arc<T>)>,
}

/// How a route of the previous table fared in the next one.
pub enum RouteChange<'a, T> {
    Added(&'a str),
    Replaced(&'a str, &'a Arc<T>),
    Removed(&'a str, &'a Arc<T>),
}

impl<I: PartialEq, T> Default for RouteTable<I, T> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<I: PartialEq, T> RouteTable<I, T> {
    /// The route `name` has here, when it was built from `identity`.
    pub fn reusable(&self, name: &str, identity: &I) -> Option<Arc<T>> {
        self.entries
            .get(name)
            .filter(|(built_from, _)| built_from == identity)
            .map(|(_, route)| route.clone())
    }

    pub fn insert(&mut self, name: &str, identity: I, route: Arc<T>) {
        self.entries.insert(name.to_owned(), (identity, route));
    }

    /// The routes by name, as a frontend serves them.
    pub fn routes(&self) -> HashMap<String, Arc<T>> {
        self.entries
            .iter()
            .map(|(name, (_, route))| (name.clone(), route.clone()))
            .collect()
    }

    pub fn identities(&self) -> impl Iterator<Item = &I> {
        self.entries.values().map(|(identity, _)| identity)
    }

    /// What `next` changes: routes added, replaced (by a new one) and removed.
    pub fn changes<'a>(&'a self, next: &'a Self) -> Vec<RouteChange<'a, T>> {
        let mut changes = Vec::new();
        for (name, (_, old)) in &self.entries {
            match next.entries.get(name) {
                Some((_, new)) if Arc::ptr_eq(new, old) => {}
                Some(_) => changes.push(RouteChange::Replaced(name, old)),
                None => changes.push(RouteChange::Removed(name, old)),
            }
        }
        for name in next.entries.keys() {
            if !self.entries.contains_key(name) {
                changes.push(RouteChange::Added(name));
            }
        }
        changes
    }
}

/// Routes by name, in name order (what `/readyz` lists).
pub fn by_name<T>(routes: &HashMap<String, Arc<T>>) -> Vec<(&String, &Arc<T>)> {
    let mut named: Vec<_> = routes.iter().collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    named
}
