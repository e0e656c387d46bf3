//! Worker threads: one single-threaded Tokio runtime per core, each accepting clients on
//! its own listening socket (SO_REUSEPORT: the kernel spreads connections over them) and
//! using its own shard of every pool. A session, and the server connections it borrows,
//! are then driven by one thread: no cross-thread wake-ups on the hot path.

use std::net::SocketAddr;
use std::sync::mpsc;

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::runtime::Handle;

pub struct Workers {
    handles: Vec<Handle>,
}

impl Workers {
    /// Starts `n` worker threads (`0`: one per available core).
    pub fn start(n: usize) -> anyhow::Result<Workers> {
        let n = if n == 0 {
            std::thread::available_parallelism().map_or(1, |p| p.get())
        } else {
            n
        };
        let (tx, rx) = mpsc::channel();
        for index in 0..n {
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(format!("sluice-worker-{index}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    pool_core::worker::set_current(index);
                    let _ = tx.send(Ok((index, runtime.handle().clone())));
                    // Start-up waits for every sender to go.
                    drop(tx);
                    // Runs the tasks spawned onto it until the process exits.
                    runtime.block_on(std::future::pending::<()>());
                })
                .context("cannot start a worker thread")?;
        }
        drop(tx);
        let mut handles: Vec<Option<Handle>> = vec![None; n];
        for started in rx {
            let (index, handle) = started.context("cannot start a worker runtime")?;
            handles[index] = Some(handle);
        }
        let handles = handles
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .context("a worker thread stopped during start-up")?;
        tracing::debug!(workers = n, "worker threads started");
        Ok(Workers { handles })
    }

    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

/// Binds `n` listening sockets to `addr` with SO_REUSEPORT. With port 0 the first socket
/// picks the port and the others join it.
pub fn bind_reuseport(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(n);
    let mut target = addr;
    for _ in 0..n.max(1) {
        let socket = Socket::new(
            Domain::for_address(target),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket
            .bind(&target.into())
            .with_context(|| format!("cannot listen on {target}"))?;
        socket.listen(1024)?;
        let listener: std::net::TcpListener = socket.into();
        target = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_start_with_their_index() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(workers.handles().len(), 2);
        for (i, h) in workers.handles().iter().enumerate() {
            let seen = h
                .block_on(h.spawn(async { pool_core::worker::current() }))
                .unwrap();
            assert_eq!(seen, Some(i));
        }
    }

    #[test]
    fn reuseport_listeners_share_one_port() {
        let ls = bind_reuseport("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = ls[0].local_addr().unwrap().port();
        assert!(ls.iter().all(|l| l.local_addr().unwrap().port() == port));
        // A client reaches one of them.
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    }
}
