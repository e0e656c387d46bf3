//! Counting clients against the global limit and their route's limit. A client is
//! counted from the moment it is accepted until its [`ClientSlot`] is dropped, so
//! a session that ends in any way (error, panic unwinding, shutdown) is uncounted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The client count and limit of one route.
#[derive(Debug, Default)]
pub struct RouteClients {
    count: AtomicUsize,
    max: Option<usize>,
}

impl RouteClients {
    pub fn new(max: Option<usize>) -> Self {
        Self {
            count: AtomicUsize::new(0),
            max,
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

/// Implemented by a protocol's route so a slot can count its client there.
pub trait CountsClients: Send + Sync + 'static {
    fn clients(&self) -> &RouteClients;
}

/// The global client count and limit of one listener side.
#[derive(Debug)]
pub struct Admission {
    count: AtomicUsize,
    max: AtomicUsize,
}

impl Admission {
    pub fn new(max: usize) -> Self {
        Self {
            count: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
        }
    }

    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Counts a new client; the flag is false when the global limit is exceeded (the
    /// session then tells the client in its protocol and drops the slot).
    pub fn admit<R: CountsClients>(self: &Arc<Self>) -> (ClientSlot<R>, bool) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let ok = n <= self.max.load(Ordering::Relaxed);
        (
            ClientSlot {
                admission: self.clone(),
                route: None,
            },
            ok,
        )
    }
}

/// Counts a client against the global and route limits while it lives.
pub struct ClientSlot<R: CountsClients> {
    admission: Arc<Admission>,
    route: Option<Arc<R>>,
}

impl<R: CountsClients> ClientSlot<R> {
    /// Counts the client against its route too; false when the route is full.
    pub fn join_route(&mut self, route: &Arc<R>) -> bool {
        let clients = route.clients();
        let n = clients.count.fetch_add(1, Ordering::Relaxed) + 1;
        self.route = Some(route.clone());
        clients.max.is_none_or(|max| n <= max)
    }
}

impl<R: CountsClients> Drop for ClientSlot<R> {
    fn drop(&mut self) {
        self.admission.count.fetch_sub(1, Ordering::Relaxed);
        if let Some(r) = &self.route {
            r.clients().count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestRoute(RouteClients);
    impl CountsClients for TestRoute {
        fn clients(&self) -> &RouteClients {
            &self.0
        }
    }

    #[test]
    fn limits_count_until_the_slot_is_dropped() {
        let admission = Arc::new(Admission::new(1));
        let route = Arc::new(TestRoute(RouteClients::new(Some(1))));
        let (mut a, ok) = admission.admit::<TestRoute>();
        assert!(ok);
        assert!(a.join_route(&route));
        let (mut b, ok) = admission.admit::<TestRoute>();
        assert!(!ok, "over the global limit");
        assert!(!b.join_route(&route), "over the route limit");
        assert_eq!(route.0.count(), 2);
        drop(b);
        drop(a);
        assert_eq!(admission.count(), 0);
        assert_eq!(route.0.count(), 0);
    }
}
