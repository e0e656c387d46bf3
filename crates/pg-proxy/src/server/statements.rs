//! Which shared prepared statements one server connection holds, bounded with LRU
//! eviction. Statements are identified by the id the route's registry gave them.

use std::collections::HashMap;

#[derive(Debug)]
pub struct ServerStatements {
    capacity: usize,
    tick: u64,
    /// Statement id → last use.
    held: HashMap<u64, u64>,
    /// Statements to close on the server before the next batch (stale plans).
    to_close: Vec<u64>,
}

impl ServerStatements {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            held: HashMap::new(),
            to_close: Vec::new(),
        }
    }

    /// True when the server has the statement; counts as a use.
    pub fn touch(&mut self, id: u64) -> bool {
        self.tick += 1;
        match self.held.get_mut(&id) {
            Some(t) => {
                *t = self.tick;
                true
            }
            None => false,
        }
    }

    /// Records that the statement is being prepared. Over capacity, the least recently
    /// used one is dropped from the set and returned: the caller closes it on the server
    /// before sending anything else.
    pub fn insert(&mut self, id: u64) -> Option<u64> {
        self.tick += 1;
        let mut evicted = None;
        if self.held.len() >= self.capacity && !self.held.contains_key(&id) {
            if let Some((&oldest, _)) = self.held.iter().min_by_key(|(_, &t)| t) {
                self.held.remove(&oldest);
                evicted = Some(oldest);
            }
        }
        self.held.insert(id, self.tick);
        evicted
    }

    /// The server no longer has it (its Parse failed).
    pub fn forget(&mut self, id: u64) {
        self.held.remove(&id);
    }

    /// The server has it but it must be re-prepared (stale cached plan).
    pub fn invalidate(&mut self, id: u64) {
        if self.held.remove(&id).is_some() {
            self.to_close.push(id);
        }
    }

    /// The server still holds it though sluice let it go (the Close that evicted it
    /// was discarded after an error): close it before the next message.
    pub fn close_later(&mut self, id: u64) {
        if !self.held.contains_key(&id) && !self.to_close.contains(&id) {
            self.to_close.push(id);
        }
    }

    pub fn take_to_close(&mut self) -> Option<Vec<u64>> {
        if self.to_close.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.to_close))
        }
    }

    /// Everything was dropped on the server (DISCARD ALL, DEALLOCATE ALL).
    pub fn clear(&mut self) {
        self.held.clear();
        self.to_close.clear();
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut s = ServerStatements::new(2);
        assert_eq!(s.insert(1), None);
        assert_eq!(s.insert(2), None);
        assert!(s.touch(1));
        assert_eq!(s.insert(3), Some(2));
        assert!(s.touch(1));
        assert!(!s.touch(2));
        assert!(s.touch(3));
        assert_eq!(s.take_to_close(), None);
    }

    #[test]
    fn invalidate_schedules_close() {
        let mut s = ServerStatements::new(4);
        assert_eq!(s.insert(7), None);
        s.invalidate(7);
        assert!(!s.touch(7));
        assert_eq!(s.take_to_close(), Some(vec![7]));
        s.invalidate(8);
        assert_eq!(s.take_to_close(), None);
    }
}
