//! Prepared statements a server connection holds on behalf of clients, by query text,
//! bounded: when the bound is reached, the least recently used one is closed on the
//! server, so that a route's connections never pile up statements until the server's
//! global `max_prepared_stmt_count` refuses everyone.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStatement {
    pub id: u32,
    pub params: u16,
    pub columns: u16,
}

#[derive(Debug)]
pub struct ServerStatements {
    /// Each statement with the tick of its latest use.
    by_sql: HashMap<Arc<[u8]>, (ServerStatement, u64)>,
    tick: u64,
    capacity: usize,
}

impl ServerStatements {
    pub fn new(capacity: usize) -> Self {
        Self {
            by_sql: HashMap::new(),
            tick: 0,
            capacity: capacity.max(1),
        }
    }

    /// The statement prepared for `sql`, now the most recently used.
    pub fn get(&mut self, sql: &[u8]) -> Option<ServerStatement> {
        self.tick += 1;
        let tick = self.tick;
        self.by_sql.get_mut(sql).map(|(s, used)| {
            *used = tick;
            *s
        })
    }

    /// Records a statement; returns the server ids that must now be closed (one it
    /// replaces, and the least recently used when over the bound).
    pub fn insert(&mut self, sql: Arc<[u8]>, stmt: ServerStatement) -> Vec<u32> {
        let mut close = Vec::new();
        self.tick += 1;
        if let Some((old, _)) = self.by_sql.insert(sql, (stmt, self.tick)) {
            close.push(old.id);
        }
        while self.by_sql.len() > self.capacity {
            // Eviction is rare (a new text beyond the bound); a scan is cheap enough.
            let oldest = self
                .by_sql
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some((s, _)) = oldest.and_then(|k| self.by_sql.remove(&k)) {
                close.push(s.id);
            }
        }
        close
    }

    pub fn len(&self) -> usize {
        self.by_sql.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_sql.is_empty()
    }

    pub fn clear(&mut self) {
        self.by_sql.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    fn st(id: u32) -> ServerStatement {
        ServerStatement {
            id,
            params: 0,
            columns: 1,
        }
    }

    #[test]
    fn bounded_least_recently_used_first_and_replacements_closed() {
        let mut s = ServerStatements::new(2);
        assert!(s.insert(k("a"), st(1)).is_empty());
        assert!(s.insert(k("b"), st(2)).is_empty());
        assert_eq!(s.insert(k("c"), st(3)), vec![1]);
        assert_eq!(s.get(b"a"), None);
        assert_eq!(s.insert(k("b"), st(4)), vec![2]);
        assert_eq!(s.get(b"b"), Some(st(4)));
        assert_eq!(s.insert(k("d"), st(5)), vec![3]);
        assert_eq!(s.len(), 2);
        // A statement in use stays; the one not used goes.
        assert_eq!(s.get(b"b"), Some(st(4)));
        assert_eq!(s.insert(k("e"), st(6)), vec![5]);
        assert_eq!(s.get(b"b"), Some(st(4)));
    }
}
