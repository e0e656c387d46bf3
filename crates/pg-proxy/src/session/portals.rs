//! What each of the client's portals runs, as far as sluice must know: the shared
//! statement bound (whose plan PostgreSQL revalidates) and the session commands an
//! Execute of it runs (a prepared `SET`). Kept per portal, because a client may bind
//! several portals and execute them in any order.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::state::settings::SessionCommand;

#[derive(Debug, Clone, Default)]
pub struct Bound {
    pub statement: Option<u64>,
    pub commands: Option<Arc<[SessionCommand]>>,
}

#[derive(Debug, Default)]
pub struct Portals {
    unnamed: Bound,
    named: HashMap<Bytes, Bound>,
}

impl Portals {
    pub fn bind(&mut self, portal: &[u8], bound: Bound) {
        if portal.is_empty() {
            self.unnamed = bound;
        } else {
            self.named.insert(Bytes::copy_from_slice(portal), bound);
        }
    }

    /// What `portal` runs; nothing known for a portal sluice did not see bound.
    pub fn get(&self, portal: &[u8]) -> Bound {
        if portal.is_empty() {
            self.unnamed.clone()
        } else {
            self.named.get(portal).cloned().unwrap_or_default()
        }
    }

    pub fn close(&mut self, portal: &[u8]) {
        if portal.is_empty() {
            self.unnamed = Bound::default();
        } else {
            self.named.remove(portal);
        }
    }

    /// Portals end with their transaction.
    pub fn end_of_transaction(&mut self) {
        self.unnamed = Bound::default();
        self.named.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_portal_keeps_what_it_runs() {
        let mut p = Portals::default();
        let set: Arc<[SessionCommand]> = Arc::from([SessionCommand::ResetAll]);
        p.bind(
            b"p0",
            Bound {
                statement: Some(1),
                commands: Some(set),
            },
        );
        p.bind(b"", Bound::default());
        assert!(p.get(b"p0").commands.is_some());
        assert!(p.get(b"").commands.is_none());
        assert_eq!(p.get(b"p1").statement, None);
        p.close(b"p0");
        assert!(p.get(b"p0").commands.is_none());
        p.bind(
            b"p1",
            Bound {
                statement: Some(2),
                commands: None,
            },
        );
        p.end_of_transaction();
        assert_eq!(p.get(b"p1").statement, None);
    }
}
