//! A round-robin TCP forwarder standing in for a Kubernetes Service in front of
//! several sluice replicas: each new client connection goes to the next backend in
//! turn, and a backend that refuses (a replica restarting) is skipped, as kube-proxy
//! stops routing to a pod whose endpoint was removed. Bytes are copied both ways
//! until either side closes.
//!
//! Unlike the rest of this crate it is async: it runs on the caller's tokio runtime.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::process::lock;

/// The forwarder's listener on `127.0.0.1:<port>`. Dropping it stops accepting;
/// connections already forwarded go on until one of their sides closes.
pub struct RoundRobin {
    port: u16,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

struct State {
    backends: Vec<SocketAddr>,
    /// Index of the backend the next connection tries first.
    next: usize,
    /// Connections forwarded, per backend address.
    forwarded: Vec<(SocketAddr, u64)>,
}

impl RoundRobin {
    /// Listens on a free loopback port and forwards to `backends` in turn.
    pub async fn start(backends: Vec<SocketAddr>) -> io::Result<RoundRobin> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State {
            backends,
            next: 0,
            forwarded: Vec::new(),
        }));
        let accept = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(RoundRobin {
            port,
            state,
            accept,
        })
    }

    /// Forwards to loopback `ports` in turn.
    pub async fn start_loopback(ports: &[u16]) -> io::Result<RoundRobin> {
        Self::start(ports.iter().map(|p| loopback(*p)).collect()).await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Replaces the backends; connections already forwarded are left alone.
    pub fn set_backends(&self, backends: Vec<SocketAddr>) {
        let mut state = lock(&self.state);
        state.backends = backends;
        state.next = 0;
    }

    /// How many connections went to each backend so far, in the order of first use.
    pub fn forwarded(&self) -> Vec<(SocketAddr, u64)> {
        lock(&self.state).forwarded.clone()
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(forward(client, state.clone()));
    }
}

/// Connects to the first backend that accepts, starting at the next in turn, and
/// copies bytes both ways. A client no backend accepts is closed.
async fn forward(mut client: TcpStream, state: Arc<Mutex<State>>) {
    let order = {
        let mut state = lock(&state);
        let n = state.backends.len();
        let first = state.next % n.max(1);
        state.next = (first + 1) % n.max(1);
        let backends = &state.backends;
        (0..n)
            .map(|i| backends[(first + i) % n])
            .collect::<Vec<_>>()
    };
    for addr in order {
        let Ok(mut server) = TcpStream::connect(addr).await else {
            continue;
        };
        count(&state, addr);
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
}

fn count(state: &Mutex<State>, addr: SocketAddr) {
    let mut state = lock(state);
    match state.forwarded.iter_mut().find(|(a, _)| *a == addr) {
        Some((_, n)) => *n += 1,
        None => state.forwarded.push((addr, 1)),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A backend that answers each connection with its own tag, then closes.
    async fn tagged_backend(tag: u8) -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(&[tag]).await;
            }
        });
        port
    }

    async fn tag_via(port: u16) -> Option<u8> {
        let mut s = TcpStream::connect(loopback(port)).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        buf.first().copied()
    }

    #[tokio::test]
    async fn spreads_connections_and_skips_a_refusing_backend() {
        let a = tagged_backend(b'a').await;
        let b = tagged_backend(b'b').await;
        // Bound then dropped: nothing listens there.
        let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let rr = RoundRobin::start_loopback(&[a, closed_port, b])
            .await
            .unwrap();
        let mut tags = Vec::new();
        for _ in 0..4 {
            tags.push(tag_via(rr.port()).await.unwrap());
        }
        // The refusing backend's turn falls to the one after it.
        assert_eq!(tags, b"abba");
        assert_eq!(rr.forwarded(), vec![(loopback(a), 2), (loopback(b), 2)]);
        rr.set_backends(vec![loopback(b)]);
        assert_eq!(tag_via(rr.port()).await, Some(b'b'));
    }
}
