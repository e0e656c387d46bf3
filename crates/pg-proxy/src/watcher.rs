//! The watcher of a PostgreSQL cluster: it asks every member whether it is in
//! recovery, every `check_interval` and soon after a route's connection attempt fails,
//! so that the primary is known before a client asks for it, and a switchover is seen
//! (and idle connections to the former primary closed) while no client is connected.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pool_core::credentials::{refetch_after_refusal, CredentialSource};
use pool_core::shutdown::{Phase, Shutdown};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::route::{Cluster, MemberState};
use crate::server::{connect, is_in_recovery, ConnectOptions, Endpoint, ServerConn, ServerError};

/// Shortest pause between two checks that [`Cluster::check_soon`] asks for: while the
/// primary is gone every failed connect asks, and the members need not see a check
/// for each.
const MIN_GAP: Duration = Duration::from_millis(100);

/// The `application_name` of the watcher's connections, as the members list them.
pub const APPLICATION_NAME: &str = "sluice cluster watcher";

/// How the watcher logs in to the members.
pub struct Probe {
    options: ConnectOptions,
    credentials: Arc<dyn CredentialSource>,
}

impl Probe {
    /// Connects as a route does with `options`, except that a standby is answered
    /// too, and the connections carry [`APPLICATION_NAME`].
    pub fn new(options: ConnectOptions, credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            options: ConnectOptions {
                require_primary: false,
                application_name: Some(APPLICATION_NAME.to_owned()),
                ..options
            },
            credentials,
        }
    }
}

/// Why a member could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("no answer to pg_is_in_recovery() within {0:?}")]
    Timeout(Duration),
}

/// What a member answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    addr: SocketAddr,
    in_recovery: bool,
}

/// Keeps `cluster`'s primary current: each member is asked over a connection the
/// watcher keeps open (opened again when it fails), every `every` and soon after
/// [`Cluster::check_soon`]. `on_change` is called with each new primary, whoever found
/// it. Ends at shutdown, or once no route uses the cluster any more.
pub async fn watch(
    cluster: Arc<Cluster>,
    probe: Probe,
    every: Duration,
    mut shutdown: Shutdown,
    on_change: impl Fn(&Cluster, SocketAddr) + Send + 'static,
) {
    let probe = Arc::new(probe);
    let mut conns: Vec<Option<ServerConn>> = (0..cluster.endpoints.len()).map(|_| None).collect();
    let mut changes = cluster.primary_changes();
    changes.mark_unchanged();
    loop {
        if Arc::strong_count(&cluster) == 1 {
            // A reload removed or replaced the cluster, and its last route is gone.
            close_all(conns).await;
            tracing::info!(cluster = %cluster.name, "member checks stopped: the cluster is no longer in use");
            return;
        }
        let started = Instant::now();
        check_all(&cluster, &mut conns, &probe).await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(started + every) => break,
                _ = async {
                    tokio::time::sleep_until(started + MIN_GAP).await;
                    cluster.check_requested().await;
                } => break,
                Ok(()) = changes.changed() => {
                    if let Some(primary) = *changes.borrow_and_update() {
                        on_change(&cluster, primary);
                    }
                }
                _ = shutdown.reached(Phase::Closing) => {
                    close_all(std::mem::take(&mut conns)).await;
                    return;
                }
            }
        }
    }
}

/// Checks every member at once (one that does not answer holds up no other), records
/// what each said, and the primary.
async fn check_all(cluster: &Cluster, conns: &mut [Option<ServerConn>], probe: &Arc<Probe>) {
    let mut checks = JoinSet::new();
    for (i, slot) in conns.iter_mut().enumerate() {
        let kept = slot.take();
        let endpoint = cluster.endpoints[i].clone();
        let probe = probe.clone();
        checks.spawn(async move {
            let (conn, outcome) = check_member(&endpoint, kept, &probe).await;
            (i, conn, outcome)
        });
    }
    let mut primaries = Vec::new();
    while let Some(done) = checks.join_next().await {
        let (i, conn, outcome) = match done {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(cluster = %cluster.name, error = %e, "a member check failed");
                continue;
            }
        };
        conns[i] = conn;
        let state = match outcome {
            Ok(Answer {
                in_recovery: false,
                addr,
            }) => {
                primaries.push((i, addr));
                MemberState::Primary
            }
            Ok(_) => MemberState::Standby,
            Err(e) => MemberState::Down(e.to_string()),
        };
        cluster.set_member(i, state);
    }
    primaries.sort_unstable();
    if primaries.len() > 1 {
        tracing::warn!(cluster = %cluster.name, primaries = ?primaries.iter().map(|(_, a)| a).collect::<Vec<_>>(), "more than one member is out of recovery");
    }
    if let Some((i, addr)) = choose_primary(&primaries, cluster.primary()) {
        cluster.found_primary(i, addr);
    }
}

/// The member to record as primary among those out of recovery: the current one while
/// it still is (two are a split brain, and following each in turn would be worse),
/// else the first.
fn choose_primary(
    primaries: &[(usize, SocketAddr)],
    current: Option<SocketAddr>,
) -> Option<(usize, SocketAddr)> {
    primaries
        .iter()
        .find(|(_, addr)| Some(*addr) == current)
        .or_else(|| primaries.first())
        .copied()
}

/// Asks one member over the connection kept from the last check, or over a new one
/// when there is none, it failed, or the member's name now leads elsewhere.
async fn check_member(
    endpoint: &Endpoint,
    kept: Option<ServerConn>,
    probe: &Probe,
) -> (Option<ServerConn>, Result<Answer, CheckError>) {
    if let Some(mut conn) = kept {
        let retired = conn
            .credentials
            .retire
            .as_ref()
            .is_some_and(|deadline| deadline.is_due(std::time::Instant::now()));
        if retired {
            // Its credentials' lease is ending: the route's connections go now too.
            conn.terminate().await;
        } else if still_leads_to(endpoint, conn.cancel.addr, probe.options.connect_timeout).await {
            match ask(&mut conn, probe).await {
                Ok(answer) => return (Some(conn), Ok(answer)),
                Err(e) => {
                    tracing::debug!(member = %endpoint, error = %e, "the kept check connection failed; opening another");
                }
            }
        } else {
            tracing::info!(member = %endpoint, from = %conn.cancel.addr, "the member's name leads to another server now");
            conn.terminate().await;
        }
    }
    let opened = async {
        let mut conn = open(endpoint, probe).await?;
        let answer = ask(&mut conn, probe).await?;
        Ok::<_, CheckError>((conn, answer))
    };
    match opened.await {
        Ok((conn, answer)) => (Some(conn), Ok(answer)),
        Err(e) => (None, Err(e)),
    }
}

async fn ask(conn: &mut ServerConn, probe: &Probe) -> Result<Answer, CheckError> {
    let limit = probe.options.connect_timeout;
    let in_recovery = tokio::time::timeout(limit, is_in_recovery(conn))
        .await
        .map_err(|_| CheckError::Timeout(limit))??;
    Ok(Answer {
        addr: conn.cancel.addr,
        in_recovery,
    })
}

/// Connects with the probe's credentials, and once more with fresh ones when the
/// member refuses them (a rotation).
async fn open(endpoint: &Endpoint, probe: &Probe) -> Result<ServerConn, ServerError> {
    let creds = probe.credentials.current().await?;
    match connect(endpoint, &probe.options, &creds).await {
        Err(ServerError::AuthFailed(_)) => {
            let creds = refetch_after_refusal(&*probe.credentials, &creds).await?;
            connect(endpoint, &probe.options, &creds).await
        }
        other => other,
    }
}

/// Whether `endpoint` still resolves to `addr`: a DNS name (a Kubernetes service) may
/// lead to another server after a switchover, and a connection kept from before would
/// go on asking the old one. A name that cannot be resolved now keeps its connection.
async fn still_leads_to(endpoint: &Endpoint, addr: SocketAddr, limit: Duration) -> bool {
    let lookup = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port));
    match tokio::time::timeout(limit, lookup).await {
        Ok(Ok(mut found)) => found.any(|a| a.ip() == addr.ip() && a.port() == addr.port()),
        _ => true,
    }
}

async fn close_all(conns: Vec<Option<ServerConn>>) {
    for conn in conns.into_iter().flatten() {
        conn.terminate().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_current_primary_is_kept_while_it_is_out_of_recovery() {
        let both = [(0, addr(1)), (1, addr(2))];
        assert_eq!(choose_primary(&both, Some(addr(2))), Some((1, addr(2))));
        assert_eq!(choose_primary(&both, None), Some((0, addr(1))));
        assert_eq!(
            choose_primary(&both[1..], Some(addr(1))),
            Some((1, addr(2)))
        );
        assert_eq!(choose_primary(&[], Some(addr(1))), None);
    }

    #[tokio::test]
    async fn a_name_that_still_resolves_to_the_address_keeps_its_connection() {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 5432,
        };
        let limit = Duration::from_secs(1);
        assert!(still_leads_to(&endpoint, addr(5432), limit).await);
        assert!(!still_leads_to(&endpoint, addr(5433), limit).await);
        let unresolvable = Endpoint {
            host: "no-such-host.invalid".into(),
            port: 5432,
        };
        assert!(still_leads_to(&unresolvable, addr(5432), limit).await);
    }
}
