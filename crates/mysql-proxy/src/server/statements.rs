//! Prepared statements a server connection holds on behalf of clients, by query text,
//! bounded: the oldest is closed on the server when the bound is reached.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStatement {
    pub id: u32,
    pub params: u16,
    pub columns: u16,
}

#[derive(Debug)]
pub struct ServerStatements {
    by_sql: HashMap<Arc<[u8]>, ServerStatement>,
    order: VecDeque<Arc<[u8]>>,
    capacity: usize,
}

impl ServerStatements {
    pub fn new(capacity: usize) -> Self {
        Self {
            by_sql: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, sql: &[u8]) -> Option<ServerStatement> {
        self.by_sql.get(sql).copied()
    }

    /// Records a statement; returns the server ids that must now be closed (one it
    /// replaces, and the oldest when over the bound).
    pub fn insert(&mut self, sql: Arc<[u8]>, stmt: ServerStatement) -> Vec<u32> {
        let mut close = Vec::new();
        if let Some(old) = self.by_sql.insert(sql.clone(), stmt) {
            close.push(old.id);
            self.order.retain(|s| *s != sql);
        }
        self.order.push_back(sql);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                if let Some(s) = self.by_sql.remove(&oldest) {
                    close.push(s.id);
                }
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
        self.order.clear();
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
    fn bounded_oldest_first_and_replacements_closed() {
        let mut s = ServerStatements::new(2);
        assert!(s.insert(k("a"), st(1)).is_empty());
        assert!(s.insert(k("b"), st(2)).is_empty());
        assert_eq!(s.insert(k("c"), st(3)), vec![1]);
        assert_eq!(s.get(b"a"), None);
        assert_eq!(s.insert(k("b"), st(4)), vec![2]);
        assert_eq!(s.get(b"b"), Some(st(4)));
        assert_eq!(s.insert(k("d"), st(5)), vec![3]);
        assert_eq!(s.len(), 2);
    }
}
