//! The replica's peers: the configured addresses (a static list, or a headless
//! Service's name, which resolves to every pod) looked up again at every refresh, and
//! asked for their replica ids, so that a key's id leads to the peer that made it.
//! Forwarding goes only to addresses found so, is bounded in time, and is counted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::identity::ReplicaId;
use super::server::kind_label;
use super::wire::{self, Outcome, Request, NONCE_LEN, REPLY_LEN};
use crate::secret::Secret;
use crate::shutdown::{Phase, Shutdown};

/// Where the peers are and how long to wait for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// `host:port` of the peers' channel; a name may resolve to several (every pod of
    /// a headless Service). This replica's own address may be among them.
    pub addresses: Vec<String>,
    /// How often the names are looked up again and the peers asked for their ids.
    pub refresh: Duration,
    /// Longest a forwarded request may take, per peer.
    pub timeout: Duration,
}

/// Which of the configured addresses the peers are found at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// Every address was looked up and answered or refused.
    Complete,
    /// Some name did not resolve.
    Partial,
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("cannot reach peer {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("peer {0} did not answer within {1:?}")]
    Timeout(SocketAddr, Duration),
    #[error("peer {0}: {1}")]
    Wire(SocketAddr, wire::WireError),
}

pub struct PeerSet {
    me: ReplicaId,
    secret: Arc<Secret>,
    settings: PeerSettings,
    by_id: RwLock<HashMap<ReplicaId, Vec<SocketAddr>>>,
}

impl PeerSet {
    /// Looks the peers up and picks this replica's id among theirs.
    pub async fn discover(secret: Arc<Secret>, settings: PeerSettings) -> Arc<Self> {
        let (found, _) = find_peers(&secret, &settings).await;
        let taken: Vec<ReplicaId> = found.keys().copied().collect();
        let me = ReplicaId::random_avoiding(&taken);
        tracing::info!(replica_id = %me, peers = found.len(), "peer set found");
        Arc::new(Self {
            me,
            secret,
            settings,
            by_id: RwLock::new(found),
        })
    }

    /// This replica's id, carried by every key it gives out.
    pub fn me(&self) -> ReplicaId {
        self.me
    }

    pub fn secret(&self) -> Arc<Secret> {
        self.secret.clone()
    }

    /// The peers known now, by id.
    pub fn known(&self) -> Vec<(ReplicaId, SocketAddr)> {
        let map = self.by_id.read().expect("peers poisoned");
        let mut known: Vec<_> = map
            .iter()
            .flat_map(|(id, addrs)| addrs.iter().map(|a| (*id, *a)))
            .collect();
        known.sort_by_key(|(id, a)| (id.get(), *a));
        known
    }

    /// Looks the peers up again.
    pub async fn refresh(&self) -> Discovery {
        let (found, discovery) = find_peers(&self.secret, &self.settings).await;
        if found.get(&self.me).is_some_and(|a| a.len() > 1) {
            // Itself and another replica under one id (both picked it while neither
            // could see the other): keys of the other are not forwarded to it.
            tracing::warn!(replica_id = %self.me, "a peer has this replica's id; restart one of them");
        }
        metrics::gauge!("sluice_peers").set(found.values().map(Vec::len).sum::<usize>() as f64);
        *self.by_id.write().expect("peers poisoned") = found;
        discovery
    }

    /// Refreshes every `refresh` until sluice closes.
    pub async fn run(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.settings.refresh) => {}
                _ = shutdown.reached(Phase::Closing) => return,
            }
            self.refresh().await;
        }
    }

    /// Sends `request` to the peer(s) with id `owner` and returns what they did: the
    /// first answer other than [`Outcome::Unknown`]. A peer not known yet is looked
    /// for once more (it may have just started).
    pub async fn forward(&self, owner: ReplicaId, request: Request) -> Outcome {
        let kind = kind_label(&request);
        let mut addrs = self.addresses_of(owner);
        if addrs.is_empty() {
            self.refresh().await;
            addrs = self.addresses_of(owner);
        }
        let mut outcome = Outcome::Unknown;
        for addr in addrs {
            match self.send(addr, &request).await {
                Ok((Outcome::Unknown, _)) => {}
                Ok((answer, _)) => {
                    outcome = answer;
                    break;
                }
                Err(e) => {
                    tracing::warn!(peer = %addr, error = %e, kind, "forwarding to a peer failed");
                    outcome = Outcome::Failed;
                }
            }
        }
        metrics::counter!("sluice_peer_forwards_total", "kind" => kind, "outcome" => outcome.as_str()).increment(1);
        outcome
    }

    fn addresses_of(&self, id: ReplicaId) -> Vec<SocketAddr> {
        if id == self.me {
            // Never to itself: what is not known here is not known anywhere.
            return Vec::new();
        }
        let map = self.by_id.read().expect("peers poisoned");
        map.get(&id).cloned().unwrap_or_default()
    }

    async fn send(
        &self,
        addr: SocketAddr,
        request: &Request,
    ) -> Result<(Outcome, ReplicaId), PeerError> {
        ask(&self.secret, addr, request, self.settings.timeout).await
    }
}

/// One request to the peer at `addr`.
async fn ask(
    secret: &Secret,
    addr: SocketAddr,
    request: &Request,
    timeout: Duration,
) -> Result<(Outcome, ReplicaId), PeerError> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        let mut nonce = [0u8; NONCE_LEN];
        stream.read_exact(&mut nonce).await?;
        stream
            .write_all(&request.encode(&nonce, secret.expose().as_bytes()))
            .await?;
        let mut reply = [0u8; REPLY_LEN];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| PeerError::Timeout(addr, timeout))?
        .map_err(|e| PeerError::Io(addr, e))?;
    wire::decode_reply(reply).map_err(|e| PeerError::Wire(addr, e))
}

/// Resolves every configured address and asks each peer found for its id.
async fn find_peers(
    secret: &Arc<Secret>,
    settings: &PeerSettings,
) -> (HashMap<ReplicaId, Vec<SocketAddr>>, Discovery) {
    let mut discovery = Discovery::Complete;
    let mut addrs = Vec::new();
    for name in &settings.addresses {
        match tokio::net::lookup_host(name.as_str()).await {
            Ok(found) => addrs.extend(found),
            Err(e) => {
                tracing::warn!(address = %name, error = %e, "peer address does not resolve");
                discovery = Discovery::Partial;
            }
        }
    }
    addrs.sort();
    addrs.dedup();
    let mut hellos = tokio::task::JoinSet::new();
    for addr in addrs {
        let (secret, timeout) = (secret.clone(), settings.timeout);
        hellos.spawn(async move { (addr, ask(&secret, addr, &Request::Hello, timeout).await) });
    }
    // This replica finds itself too (under its own id, which is never forwarded to).
    let mut found: HashMap<ReplicaId, Vec<SocketAddr>> = HashMap::new();
    while let Some(answer) = hellos.join_next().await {
        match answer {
            Ok((addr, Ok((_, id)))) => found.entry(id).or_default().push(addr),
            Ok((addr, Err(e))) => tracing::debug!(peer = %addr, error = %e, "peer did not answer"),
            Err(_) => {}
        }
    }
    for addrs in found.values_mut() {
        addrs.sort();
    }
    (found, discovery)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::peers::server::{serve, PeerHandler};
    use crate::shutdown::ShutdownController;

    /// Knows one cancel key and records what it was asked.
    struct OneKey {
        key: (i32, i32),
        asked: Mutex<Vec<Request>>,
    }

    impl PeerHandler for OneKey {
        fn handle(
            &self,
            request: Request,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + '_>> {
            Box::pin(async move {
                let outcome = match &request {
                    Request::Cancel {
                        process_id,
                        secret_key,
                    } if (*process_id, *secret_key) == self.key => Outcome::Done,
                    _ => Outcome::Unknown,
                };
                self.asked.lock().unwrap().push(request);
                outcome
            })
        }
    }

    async fn peer(
        id: u16,
        key: (i32, i32),
        secret: &str,
        shutdown: Shutdown,
    ) -> (SocketAddr, Arc<OneKey>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler = Arc::new(OneKey {
            key,
            asked: Mutex::new(Vec::new()),
        });
        tokio::spawn(serve(
            listener,
            ReplicaId::new(id).unwrap(),
            Arc::new(Secret::new(secret)),
            handler.clone(),
            shutdown,
        ));
        (addr, handler)
    }

    #[tokio::test]
    async fn a_key_goes_to_the_peer_that_made_it_and_only_with_the_secret() {
        let (_controller, shutdown) = ShutdownController::new();
        let (a, a_handler) = peer(5, (1, 2), "s3cret", shutdown.clone()).await;
        let (b, b_handler) = peer(9, (3, 4), "s3cret", shutdown.clone()).await;
        let (c, c_handler) = peer(12, (5, 6), "another", shutdown.clone()).await;
        let settings = PeerSettings {
            addresses: vec![a.to_string(), b.to_string(), c.to_string()],
            refresh: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
        };
        let set = PeerSet::discover(Arc::new(Secret::new("s3cret")), settings).await;
        // The peer with another secret refuses even the hello: it is not a peer.
        let known: Vec<u16> = set.known().iter().map(|(id, _)| id.get()).collect();
        assert_eq!(known, vec![5, 9]);
        assert!(![5, 9].contains(&set.me().get()));

        let cancel = |process_id, secret_key| Request::Cancel {
            process_id,
            secret_key,
        };
        let nine = ReplicaId::new(9).unwrap();
        assert_eq!(set.forward(nine, cancel(3, 4)).await, Outcome::Done);
        assert_eq!(set.forward(nine, cancel(3, 5)).await, Outcome::Unknown);
        assert_eq!(b_handler.asked.lock().unwrap().len(), 2);
        assert!(a_handler.asked.lock().unwrap().is_empty());
        assert!(c_handler.asked.lock().unwrap().is_empty());
        // Nothing is sent for an id no peer has, nor to itself.
        let nobody = ReplicaId::new(1000).unwrap();
        assert_eq!(set.forward(nobody, cancel(1, 2)).await, Outcome::Unknown);
        assert_eq!(set.forward(set.me(), cancel(1, 2)).await, Outcome::Unknown);
        assert!(a_handler.asked.lock().unwrap().is_empty());
    }
}
