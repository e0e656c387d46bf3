//! Clients that have connected but not yet authenticated. They are not counted
//! against `max_client_conn` (an idle socket proves nothing and must not lock apps
//! out); instead, handshakes in progress have a cap of their own, over the whole
//! listener side and per source address, so one noisy address cannot use up what
//! the others need. A [`HandshakeSlot`] counts one handshake until it is dropped,
//! however the handshake ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// `max_handshakes` unless configured.
pub const DEFAULT_MAX_HANDSHAKES: usize = 1024;
/// `max_handshakes_per_address` unless configured.
pub const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS: usize = 128;

/// Which cap a new handshake would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeRefusal {
    #[error("too many connections are authenticating ({0} at most)")]
    Total(usize),
    #[error("too many connections from this address are authenticating ({0} at most)")]
    PerAddress(usize),
}

impl HandshakeRefusal {
    /// A label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeRefusal::Total(_) => "too_many_handshakes",
            HandshakeRefusal::PerAddress(_) => "too_many_handshakes_per_address",
        }
    }
}

/// The handshakes in progress of one listener side, and their caps (changed on reload).
#[derive(Debug)]
pub struct Handshakes {
    max_total: AtomicUsize,
    max_per_address: AtomicUsize,
    total: AtomicUsize,
    /// Only addresses with a handshake in progress have an entry.
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

impl Default for Handshakes {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_HANDSHAKES, DEFAULT_MAX_HANDSHAKES_PER_ADDRESS)
    }
}

impl Handshakes {
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            max_total: AtomicUsize::new(max_total),
            max_per_address: AtomicUsize::new(max_per_address),
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        }
    }

    pub fn set_limits(&self, max_total: usize, max_per_address: usize) {
        self.max_total.store(max_total, Ordering::Relaxed);
        self.max_per_address
            .store(max_per_address, Ordering::Relaxed);
    }

    /// Handshakes in progress now.
    pub fn count(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts a new handshake from `address`, or says which cap it would exceed
    /// (nothing is counted then).
    pub fn begin(self: &Arc<Self>, address: IpAddr) -> Result<HandshakeSlot, HandshakeRefusal> {
        let max_total = self.max_total.load(Ordering::Relaxed);
        let max_per_address = self.max_per_address.load(Ordering::Relaxed);
        let mut per_address = self.per_address.lock().expect("handshakes poisoned");
        if self.total.load(Ordering::Relaxed) >= max_total {
            return Err(HandshakeRefusal::Total(max_total));
        }
        let n = per_address.entry(address).or_insert(0);
        if *n >= max_per_address {
            if *n == 0 {
                per_address.remove(&address);
            }
            return Err(HandshakeRefusal::PerAddress(max_per_address));
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(HandshakeSlot {
            handshakes: self.clone(),
            address,
        })
    }

    fn end(&self, address: IpAddr) {
        let mut per_address = self.per_address.lock().expect("handshakes poisoned");
        if let Some(n) = per_address.get_mut(&address) {
            *n -= 1;
            if *n == 0 {
                per_address.remove(&address);
            }
        }
        self.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One handshake in progress; dropping it (authenticated, refused or gone) ends it.
#[derive(Debug)]
pub struct HandshakeSlot {
    handshakes: Arc<Handshakes>,
    address: IpAddr,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.handshakes.end(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_address_cannot_take_what_the_others_need() {
        let hs = Arc::new(Handshakes::new(3, 2));
        let a1 = hs.begin(ip("10.0.0.1")).unwrap();
        let _a2 = hs.begin(ip("10.0.0.1")).unwrap();
        assert_eq!(
            hs.begin(ip("10.0.0.1")).unwrap_err(),
            HandshakeRefusal::PerAddress(2)
        );
        let _b1 = hs.begin(ip("10.0.0.2")).unwrap();
        assert_eq!(
            hs.begin(ip("10.0.0.3")).unwrap_err(),
            HandshakeRefusal::Total(3)
        );
        drop(a1);
        assert_eq!(hs.count(), 2);
        let _c1 = hs.begin(ip("10.0.0.3")).unwrap();
    }

    #[test]
    fn ended_handshakes_leave_no_entry_behind() {
        let hs = Arc::new(Handshakes::new(10, 0));
        assert!(hs.begin(ip("::1")).is_err());
        hs.set_limits(10, 1);
        let slot = hs.begin(ip("::1")).unwrap();
        drop(slot);
        assert_eq!(hs.count(), 0);
        assert!(hs.per_address.lock().unwrap().is_empty());
    }
}
