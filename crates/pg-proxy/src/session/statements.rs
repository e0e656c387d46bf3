//! One client's prepared-statement names, each mapped to the route's shared statement
//! (`state/statements.rs`) that serves it on whichever server the client lands.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::state::statements::SharedStatement;

/// One client's statement names.
#[derive(Debug, Default)]
pub struct ClientStatements {
    by_name: HashMap<Bytes, Arc<SharedStatement>>,
}

impl ClientStatements {
    pub fn insert(&mut self, name: Bytes, s: Arc<SharedStatement>) {
        self.by_name.insert(name, s);
    }

    pub fn get(&self, name: &[u8]) -> Option<&Arc<SharedStatement>> {
        self.by_name.get(name)
    }

    pub fn remove(&mut self, name: &[u8]) -> Option<Arc<SharedStatement>> {
        self.by_name.remove(name)
    }

    /// Some statement of the client's, when it has one.
    pub fn any(&self) -> Option<&Arc<SharedStatement>> {
        self.by_name.values().next()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn clear(&mut self) {
        self.by_name.clear();
    }
}
