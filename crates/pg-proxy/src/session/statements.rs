//! Prepared statements in transaction pooling. A client's named statement is mapped to
//! a statement shared by every client of the route, keyed by query text and parameter
//! types, under a name sluice chooses. Any server connection can then serve it: sluice
//! prepares it there first when the connection lacks it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use super::settings::{may_change_session, scan, SessionCommand};
use crate::protocol::frontend::{write_parse, ParseView};

/// A statement shared by the clients of one route.
#[derive(Debug)]
pub struct SharedStatement {
    pub id: u64,
    /// The server-side name.
    pub name: Bytes,
    /// A ready-to-send Parse under `name`, injected where a server lacks the statement.
    pub parse: Bytes,
    /// Session commands the statement contains (a prepared `SET`).
    pub commands: Option<Arc<[SessionCommand]>>,
}

/// Per-route table of shared statements.
#[derive(Debug, Default)]
pub struct StatementRegistry {
    by_key: Mutex<HashMap<Bytes, Arc<SharedStatement>>>,
    next_id: AtomicU64,
}

/// Entries beyond this are pruned when no client holds them any more.
const REGISTRY_SOFT_LIMIT: usize = 10_000;

impl StatementRegistry {
    /// The shared statement for a client's Parse.
    pub fn intern(&self, parse: &ParseView<'_>) -> Arc<SharedStatement> {
        let mut key = BytesMut::with_capacity(parse.query.len() + parse.param_types.len() + 1);
        key.put_slice(parse.query);
        key.put_u8(0);
        key.put_slice(parse.param_types);
        let key = key.freeze();
        let mut map = self.by_key.lock().expect("statement registry poisoned");
        if let Some(s) = map.get(&key) {
            return s.clone();
        }
        if map.len() >= REGISTRY_SOFT_LIMIT {
            map.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let name = Bytes::from(crate::server::shared_statement_name(id));
        let mut frame = BytesMut::new();
        write_parse(&mut frame, &name, parse.query, parse.param_types);
        let commands = commands_of(parse.query);
        let s = Arc::new(SharedStatement {
            id,
            name,
            parse: frame.freeze(),
            commands,
        });
        map.insert(key, s.clone());
        s
    }

    pub fn len(&self) -> usize {
        self.by_key
            .lock()
            .expect("statement registry poisoned")
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Session commands in a statement's text, if any.
pub fn commands_of(query: &[u8]) -> Option<Arc<[SessionCommand]>> {
    if !may_change_session(query) {
        return None;
    }
    let text = std::str::from_utf8(query).ok()?;
    let cmds = scan(text);
    (!cmds.is_empty()).then(|| cmds.into())
}

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

    pub fn clear(&mut self) {
        self.by_name.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_and_types_share_one_statement() {
        let r = StatementRegistry::default();
        let a = r.intern(&ParseView {
            name: b"a",
            query: b"select $1",
            param_types: &[0, 1, 0, 0, 0, 23],
        });
        let b = r.intern(&ParseView {
            name: b"b",
            query: b"select $1",
            param_types: &[0, 1, 0, 0, 0, 23],
        });
        let c = r.intern(&ParseView {
            name: b"a",
            query: b"select $1",
            param_types: &[0, 0],
        });
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(r.len(), 2);
        let v = ParseView::decode(&a.parse[5..]).unwrap();
        assert_eq!(v.name, &a.name[..]);
        assert_eq!(v.query, b"select $1");
    }

    #[test]
    fn prepared_set_is_recognised() {
        let r = StatementRegistry::default();
        let s = r.intern(&ParseView {
            name: b"",
            query: b"SET search_path TO x",
            param_types: &[0, 0],
        });
        assert!(s.commands.is_some());
    }
}
