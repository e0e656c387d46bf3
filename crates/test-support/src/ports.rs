//! Loopback TCP ports for the servers the tests start: a free one to listen on, and
//! a wait until something listens. Every server of this crate listens on 127.0.0.1
//! only, on a port no other server of the machine uses.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::process::lock;

/// The address every test server listens on.
pub(crate) const LOOPBACK: &str = "127.0.0.1";
/// Ports that belong to services of the machine itself.
const RESERVED_PORTS: [u16; 2] = [5432, 3306];

/// Returns a loopback TCP port that is currently free.
///
/// The port is found by binding `127.0.0.1:0`; the listener is closed before
/// returning. A port is never handed out twice by the same process, and the
/// ports of the machine's own services (5432, 3306) are never returned.
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..1000 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("cannot bind a loopback TCP port: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("cannot read local address of a listener: {e}"))
            .port();
        drop(listener);
        if RESERVED_PORTS.contains(&port) {
            continue;
        }
        if lock(handed_out).insert(port) {
            return port;
        }
    }
    panic!("could not find a free loopback TCP port");
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
/// Returns `false` when `timeout` elapses first.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.clamp(Duration::from_millis(10), Duration::from_millis(500));
        if TcpStream::connect_timeout(&addr, attempt).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25).min(left));
    }
}
