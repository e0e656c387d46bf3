//! Keys that name a client session from outside it: PostgreSQL's cancel keys and
//! MySQL's connection ids for `KILL`. Every worker registers and looks up keys, so
//! the map is sharded ([`DashMap`]) rather than one lock. A key is removed when its
//! [`Registration`] (held by the session) is dropped.
//!
//! [`Serving`] is where a session records the server connection serving it right
//! now. A cancel or kill holds its lock while it acts, and the session takes the
//! same lock to change server connection, so the action never lands on a server
//! connection that has moved on to another client.

use std::hash::Hash;
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

/// Sessions by key.
pub struct KeyRegistry<K: Eq + Hash + Copy, S> {
    slots: DashMap<K, Arc<S>>,
}

impl<K: Eq + Hash + Copy, S> Default for KeyRegistry<K, S> {
    fn default() -> Self {
        Self {
            slots: DashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Copy, S> KeyRegistry<K, S> {
    /// Registers the slot `make` builds under `key`, unless the key is taken.
    pub fn try_register(
        self: &Arc<Self>,
        key: K,
        make: impl FnOnce() -> S,
    ) -> Option<Registration<K, S>> {
        match self.slots.entry(key) {
            Entry::Occupied(_) => None,
            Entry::Vacant(v) => {
                let slot = Arc::new(make());
                v.insert(slot.clone());
                Some(Registration {
                    registry: self.clone(),
                    key,
                    slot,
                })
            }
        }
    }

    pub fn get(&self, key: K) -> Option<Arc<S>> {
        self.slots.get(&key).map(|s| s.value().clone())
    }

    pub fn contains(&self, key: K) -> bool {
        self.slots.contains_key(&key)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Removes the session's key when the session ends.
pub struct Registration<K: Eq + Hash + Copy, S> {
    registry: Arc<KeyRegistry<K, S>>,
    key: K,
    pub slot: Arc<S>,
}

impl<K: Eq + Hash + Copy, S> Drop for Registration<K, S> {
    fn drop(&mut self) {
        self.registry.slots.remove(&self.key);
    }
}

/// The server connection serving a session at the moment (`None` between
/// transactions), behind the lock that cancels and kills hold while they act.
#[derive(Debug)]
pub struct Serving<T> {
    target: tokio::sync::Mutex<Option<T>>,
}

impl<T> Default for Serving<T> {
    fn default() -> Self {
        Self {
            target: tokio::sync::Mutex::new(None),
        }
    }
}

impl<T> Serving<T> {
    /// Records (or clears) the server connection; waits for an action in progress.
    pub async fn set(&self, target: Option<T>) {
        // Taken at once unless a cancel is being delivered right now (twice per
        // transaction: the waiting lock is the rare case).
        match self.target.try_lock() {
            Ok(mut slot) => *slot = target,
            Err(_) => *self.target.lock().await = target,
        }
    }

    /// Holds the lock while the caller acts on the current target.
    pub async fn hold(&self) -> tokio::sync::MutexGuard<'_, Option<T>> {
        self.target.lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_registered_once_and_removed_with_their_registration() {
        let reg: Arc<KeyRegistry<u32, &'static str>> = Arc::default();
        let a = reg.try_register(7, || "a").expect("free");
        assert!(reg.try_register(7, || "b").is_none(), "taken");
        assert_eq!(reg.get(7).as_deref(), Some(&"a"));
        assert_eq!(reg.len(), 1);
        drop(a);
        assert!(reg.is_empty());
        assert!(reg.try_register(7, || "b").is_some());
    }
}
