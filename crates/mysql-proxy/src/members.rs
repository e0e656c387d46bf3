//! The members of a MySQL cluster and their roles: a watcher asks each member
//! whether it is writable and keeps a current view for routing.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pool_core::credentials::CredentialSource;

use crate::protocol::capabilities::status;
use crate::server::{connect, ConnectOptions, Endpoint, ServerConn, ServerError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts writes: the read-write listener's target.
    Writable,
    /// Online but read-only: serves the read-only listener.
    Readable,
    /// Not answering, or not an online group member.
    Down,
}

/// Members of one cluster and what the watcher last saw of them.
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    roles: RwLock<Vec<Role>>,
    /// Why each member was last found down, for errors and readiness.
    problems: RwLock<Vec<Option<String>>>,
    /// Spreads reads over readable members.
    next_read: AtomicUsize,
    /// Version string of the last member that answered (shown to clients).
    version: RwLock<Option<String>>,
    /// Status flags of that member's greeting that clients act on (see
    /// [`Cluster::status_flags`]).
    status_flags: AtomicU16,
    /// How long a client between transactions waits for a writable member when there
    /// is none (a switchover), before it gets an error.
    pub failover_timeout: Duration,
}

/// `failover_timeout` unless set.
pub const DEFAULT_FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);

impl Cluster {
    pub fn new(name: impl Into<String>, endpoints: Vec<Endpoint>) -> Self {
        let n = endpoints.len();
        Self {
            name: name.into(),
            endpoints,
            roles: RwLock::new(vec![Role::Down; n]),
            problems: RwLock::new(vec![None; n]),
            next_read: AtomicUsize::new(0),
            version: RwLock::new(None),
            status_flags: AtomicU16::new(0),
            failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
        }
    }

    pub fn with_failover_timeout(mut self, timeout: Duration) -> Self {
        self.failover_timeout = timeout;
        self
    }

    pub fn roles(&self) -> Vec<Role> {
        self.roles.read().expect("roles poisoned").clone()
    }

    pub fn set_role(&self, member: usize, role: Role) {
        let mut roles = self.roles.write().expect("roles poisoned");
        if roles[member] != role {
            tracing::info!(cluster = %self.name, member = %self.endpoints[member], ?role, "member role changed");
            roles[member] = role;
        }
        let value = match role {
            Role::Writable => 1.0,
            Role::Readable => 0.0,
            Role::Down => -1.0,
        };
        crate::metrics::member_role(&self.name, &self.endpoints[member].to_string(), value);
    }

    /// The member writes go to: the first writable one.
    pub fn writable(&self) -> Option<usize> {
        self.roles
            .read()
            .expect("roles poisoned")
            .iter()
            .position(|r| *r == Role::Writable)
    }

    /// A readable member, taken in turn; the writable one when none is readable.
    pub fn readable(&self) -> Option<usize> {
        let roles = self.roles.read().expect("roles poisoned");
        let readable: Vec<usize> = (0..roles.len())
            .filter(|&i| roles[i] == Role::Readable)
            .collect();
        if readable.is_empty() {
            return roles.iter().position(|r| *r == Role::Writable);
        }
        let n = self.next_read.fetch_add(1, Ordering::Relaxed);
        Some(readable[n % readable.len()])
    }

    pub fn version(&self) -> Option<String> {
        self.version.read().expect("version poisoned").clone()
    }

    /// NO_BACKSLASH_ESCAPES and ANSI_QUOTES when the member's global sql_mode has them:
    /// drivers choose how to quote by these flags of the greeting.
    pub fn status_flags(&self) -> u16 {
        self.status_flags.load(Ordering::Relaxed)
    }

    /// The members, each with the reason it was last found down.
    pub fn describe(&self) -> String {
        let problems = self.problems.read().expect("problems poisoned");
        self.endpoints
            .iter()
            .zip(problems.iter())
            .map(|(e, p)| match p {
                Some(why) => format!("{e} (down: {why})"),
                None => e.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn set_problem(&self, member: usize, problem: Option<String>) {
        self.problems.write().expect("problems poisoned")[member] = problem;
    }
}

/// How a member's role is read: `read_only`/`super_read_only`, and on MySQL with group
/// replication, the member's own row of `replication_group_members`.
async fn ask_role(conn: &mut ServerConn) -> Result<Role, ServerError> {
    let rows = conn.query_rows("SELECT @@global.read_only").await?;
    let read_only = rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("OFF"));
    let mariadb = conn.server_version.contains("MariaDB");
    let mut super_read_only = false;
    if !mariadb {
        if let Ok(rows) = conn.query_rows("SELECT @@global.super_read_only").await {
            super_read_only = rows
                .first()
                .and_then(|r| r.first().cloned().flatten())
                .is_some_and(|v| v != "0");
        }
        let group = conn
            .query_rows(
                "SELECT MEMBER_ROLE, MEMBER_STATE FROM performance_schema.replication_group_members \
                 WHERE MEMBER_ID = @@server_uuid",
            )
            .await;
        if let Ok(rows) = group {
            if let Some(row) = rows.first() {
                let role = row.first().cloned().flatten().unwrap_or_default();
                let state = row.get(1).cloned().flatten().unwrap_or_default();
                return Ok(match (role.as_str(), state.as_str()) {
                    (_, s) if s != "ONLINE" => Role::Down,
                    ("PRIMARY", _) if !super_read_only => Role::Writable,
                    _ => Role::Readable,
                });
            }
        }
    }
    Ok(if read_only || super_read_only {
        Role::Readable
    } else {
        Role::Writable
    })
}

/// Keeps `cluster`'s view current: every `every`, each member is asked its role over a
/// connection the watcher keeps open; one that does not answer within the connect
/// timeout is marked down until it answers again.
pub async fn watch(
    cluster: Arc<Cluster>,
    options: ConnectOptions,
    credentials: Arc<dyn CredentialSource>,
    every: Duration,
    mut shutdown: pool_core::shutdown::Shutdown,
) {
    let mut conns: Vec<Option<ServerConn>> = (0..cluster.endpoints.len()).map(|_| None).collect();
    loop {
        if Arc::strong_count(&cluster) == 1 {
            // No route uses the cluster any more (a reload removed or replaced it).
            for c in conns.into_iter().flatten() {
                c.quit().await;
            }
            tracing::info!(cluster = %cluster.name, "member checks stopped: the cluster is no longer in use");
            return;
        }
        for (i, slot) in conns.iter_mut().enumerate() {
            let role = check_member(&cluster, i, slot, &options, &credentials).await;
            cluster.set_role(i, role);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.reached(pool_core::shutdown::Phase::Closing) => return,
        }
    }
}

/// Checks all members once (used at start, before listeners open).
pub async fn check_once(
    cluster: &Cluster,
    options: &ConnectOptions,
    credentials: &Arc<dyn CredentialSource>,
) {
    for i in 0..cluster.endpoints.len() {
        let mut slot = None;
        let role = check_member(cluster, i, &mut slot, options, credentials).await;
        cluster.set_role(i, role);
        if let Some(c) = slot {
            c.quit().await;
        }
    }
}

async fn check_member(
    cluster: &Cluster,
    i: usize,
    slot: &mut Option<ServerConn>,
    options: &ConnectOptions,
    credentials: &Arc<dyn CredentialSource>,
) -> Role {
    let endpoint = &cluster.endpoints[i];
    let attempt = async {
        if slot.is_none() {
            let creds = credentials.current().await?;
            let conn = match connect(endpoint, i, options, &creds, None).await {
                Err(ServerError::AuthFailed(_)) => {
                    let creds =
                        pool_core::credentials::refetch_after_refusal(&**credentials, &creds)
                            .await?;
                    connect(endpoint, i, options, &creds, None).await?
                }
                other => other?,
            };
            *cluster.version.write().expect("version poisoned") = Some(conn.server_version.clone());
            cluster
                .status_flags
                .store(conn.greeting_status & status::SQL_MODE, Ordering::Relaxed);
            *slot = Some(conn);
        }
        let conn = slot.as_mut().expect("just connected");
        ask_role(conn).await
    };
    let problem = match tokio::time::timeout(options.connect_timeout * 2, attempt).await {
        Ok(Ok(role)) => {
            cluster.set_problem(i, None);
            return role;
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer in time".to_owned(),
    };
    tracing::debug!(cluster = %cluster.name, member = %endpoint, error = %problem, "member check failed");
    cluster.set_problem(i, Some(problem));
    *slot = None;
    Role::Down
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(n: usize) -> Cluster {
        Cluster::new(
            "c",
            (0..n)
                .map(|i| Endpoint {
                    host: "127.0.0.1".into(),
                    port: 3300 + i as u16,
                })
                .collect(),
        )
    }

    #[test]
    fn reads_rotate_over_readable_members_and_fall_back_to_the_writer() {
        let c = cluster(3);
        assert_eq!(c.writable(), None);
        assert_eq!(c.readable(), None);
        c.set_role(1, Role::Writable);
        assert_eq!(c.writable(), Some(1));
        assert_eq!(c.readable(), Some(1));
        c.set_role(0, Role::Readable);
        c.set_role(2, Role::Readable);
        let picks: Vec<usize> = (0..4).map(|_| c.readable().unwrap()).collect();
        assert!(
            picks.contains(&0) && picks.contains(&2) && !picks.contains(&1),
            "{picks:?}"
        );
        c.set_role(2, Role::Down);
        assert!((0..3).all(|_| c.readable() == Some(0)));
    }
}
