//! Credentials of a Vault dynamic role: Vault creates a database user per lease and drops
//! it when the lease ends. The lease is renewed while in use; when Vault will not extend
//! it further (the role's `max_ttl`), a new lease is taken well before the end, server
//! connections opened with the old one are retired at their next transaction boundary,
//! and the old lease is revoked once no connection uses it.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::client::Vault;
use super::endpoints::{self, LeasedCreds};
use super::error::VaultError;
use super::retry::Backoff;
use super::role::RoleInner;
use super::task::OwnedTask;
use crate::credentials::{
    CredentialError, CredentialFuture, CredentialSource, Credentials, RetireDeadline, SourceHealth,
};

/// How often the upkeep loop looks at the leases.
const TICK: Duration = Duration::from_secs(1);

pub struct DynamicRoleSource {
    inner: Arc<Inner>,
    _upkeep: OwnedTask,
}

type Inner = RoleInner<State>;

/// One lease and the credentials it carries.
struct Held {
    creds: Arc<Credentials>,
    lease_id: String,
    /// The duration Vault granted first: renewals ask for as much again.
    granted: Duration,
    expires_at: Instant,
    renewable: bool,
    /// Vault granted less than asked: the lease reached the role's `max_ttl`.
    capped: bool,
}

impl Held {
    /// Connections must be closed this long before the lease ends.
    fn retire_margin(&self) -> Duration {
        (self.granted / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    fn retire_at(&self) -> Instant {
        self.expires_at - self.retire_margin()
    }

    fn remaining(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// Renew at half the granted duration.
    fn wants_renewal(&self, now: Instant) -> bool {
        self.renewable && !self.capped && self.remaining(now) <= self.granted / 2
    }

    /// A new lease is taken when this one can no longer be extended and half of its
    /// granted duration is left, so new connections move over well before the end.
    fn wants_successor(&self, now: Instant) -> bool {
        (self.capped || !self.renewable) && self.remaining(now) <= self.granted / 2
    }

    /// In use by no connection (only the source holds it).
    fn unused(&self) -> bool {
        Arc::strong_count(&self.creds) == 1
    }
}

#[derive(Default)]
struct State {
    current: Option<Held>,
    /// Superseded leases, revoked once unused.
    retired: Vec<Held>,
    /// The database refused the current credentials.
    rejected: bool,
    generation: u64,
    failing: Option<String>,
}

impl DynamicRoleSource {
    /// Starts the upkeep loop, which takes the first lease at once.
    pub fn new(vault: Arc<Vault>, mount: &str, role: &str) -> Self {
        let inner = Arc::new(Inner::new(vault, "dynamic", mount, role));
        let upkeep = OwnedTask(tokio::spawn(upkeep_loop(Arc::downgrade(&inner))));
        Self {
            inner,
            _upkeep: upkeep,
        }
    }
}

impl Inner {
    /// The current credentials, unless refused or too close to the lease's end.
    fn usable(&self, now: Instant) -> Option<Arc<Credentials>> {
        let st = self.state();
        let held = st.current.as_ref()?;
        (!st.rejected && now < held.retire_at()).then(|| held.creds.clone())
    }

    /// Takes a new lease; the previous one is kept for its connections until unused.
    async fn take_lease(&self) -> Result<(), VaultError> {
        self.metrics.fetches.increment(1);
        let (mount, role) = (self.mount.clone(), self.role.clone());
        let leased: Result<LeasedCreds, VaultError> = self
            .vault
            .call("dynamic role credentials", move |c| {
                let (mount, role) = (mount.clone(), role.clone());
                Box::pin(async move { endpoints::read_dynamic_creds(c, &mount, &role).await })
            })
            .await;
        let leased = match leased {
            Ok(l) => l,
            Err(e) => {
                self.metrics.fetch_failures.increment(1);
                let mut st = self.state();
                if st.failing.is_none() {
                    tracing::warn!(source = %self.name, error = %e, "cannot obtain a lease");
                }
                st.failing = Some(e.to_string());
                return Err(e);
            }
        };
        let now = Instant::now();
        let mut st = self.state();
        st.failing = None;
        st.generation += 1;
        let mut held = Held {
            creds: Arc::new(Credentials::new(
                leased.username.clone(),
                leased.password,
                st.generation,
            )),
            lease_id: leased.lease_id,
            granted: leased.lease_duration,
            expires_at: now + leased.lease_duration,
            renewable: leased.renewable,
            capped: false,
        };
        let deadline = Arc::new(RetireDeadline::new(Some(held.retire_at())));
        Arc::get_mut(&mut held.creds)
            .expect("fresh credentials are not shared")
            .retire = Some(deadline);
        tracing::info!(
            source = %self.name, username = %leased.username, generation = st.generation,
            lease_seconds = leased.lease_duration.as_secs(), "took a new lease"
        );
        self.metrics.rotations.increment(1);
        self.metrics.generation.set(st.generation as f64);
        self.metrics.set_expiry(Some(held.expires_at));
        if let Some(old) = st.current.replace(held) {
            st.retired.push(old);
        }
        st.rejected = false;
        Ok(())
    }

    async fn take_lease_if(&self, needed: impl Fn(&State) -> bool) -> Result<(), VaultError> {
        let _one = self.fetching.lock().await;
        if !needed(&self.state()) {
            return Ok(());
        }
        self.take_lease().await
    }

    /// Renews the current lease; marks it capped when Vault grants less than asked.
    async fn renew(&self) -> Result<(), VaultError> {
        let (lease_id, granted) = {
            let st = self.state();
            let Some(h) = st.current.as_ref() else {
                return Ok(());
            };
            (h.lease_id.clone(), h.granted)
        };
        let id = lease_id.clone();
        let renewal = self
            .vault
            .call("lease renewal", move |c| {
                let id = id.clone();
                Box::pin(async move { endpoints::renew_lease(c, &id, granted).await })
            })
            .await?;
        self.metrics.lease_renewals.increment(1);
        let now = Instant::now();
        let mut st = self.state();
        if let Some(h) = st.current.as_mut().filter(|h| h.lease_id == lease_id) {
            h.expires_at = now + renewal.lease_duration;
            h.renewable = renewal.renewable;
            // A second of slack: Vault counts from its own clock.
            h.capped = renewal.lease_duration + Duration::from_secs(1) < granted;
            if let Some(d) = &h.creds.retire {
                d.set(Some(h.retire_at()));
            }
            self.metrics.set_expiry(Some(h.expires_at));
            tracing::debug!(source = %self.name, lease_seconds = renewal.lease_duration.as_secs(), capped = h.capped, "renewed the lease");
        }
        Ok(())
    }

    /// Revokes superseded leases no connection uses any more; forgets expired ones.
    async fn revoke_unused(&self) {
        let now = Instant::now();
        let done: Vec<Held> = {
            let mut st = self.state();
            let (done, keep) = std::mem::take(&mut st.retired)
                .into_iter()
                .partition(|h| h.unused() || h.remaining(now).is_zero());
            st.retired = keep;
            done
        };
        for held in done {
            if held.remaining(now).is_zero() {
                continue; // Vault revoked it itself.
            }
            if let Err(e) = self.revoke(&held.lease_id).await {
                tracing::warn!(source = %self.name, error = %e, "cannot revoke a superseded lease; Vault ends it at expiry");
                if !matches!(e, VaultError::Refused { .. }) {
                    self.state().retired.push(held);
                }
            }
        }
    }

    async fn revoke(&self, lease_id: &str) -> Result<(), VaultError> {
        let id = lease_id.to_owned();
        self.vault
            .call("lease revocation", move |c| {
                let id = id.clone();
                Box::pin(async move { endpoints::revoke_lease(c, &id).await })
            })
            .await?;
        self.metrics.lease_revocations.increment(1);
        tracing::debug!(source = %self.name, "revoked a lease");
        Ok(())
    }

    /// One pass of upkeep: first lease, renewal, successor, revocation.
    async fn upkeep(&self) -> Result<(), VaultError> {
        let now = Instant::now();
        let (missing, renew, successor) = {
            let st = self.state();
            match &st.current {
                None => (true, false, false),
                Some(h) => (st.rejected, h.wants_renewal(now), h.wants_successor(now)),
            }
        };
        if missing || successor {
            self.take_lease_if(|st| {
                st.current.is_none()
                    || st.rejected
                    || st
                        .current
                        .as_ref()
                        .is_some_and(|h| h.wants_successor(Instant::now()))
            })
            .await?;
        } else if renew {
            self.renew().await?;
        }
        self.revoke_unused().await;
        let st = self.state();
        self.metrics
            .set_expiry(st.current.as_ref().map(|h| h.expires_at));
        Ok(())
    }
}

async fn upkeep_loop(inner: Weak<Inner>) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        let Some(src) = inner.upgrade() else { return };
        let delay = match src.upkeep().await {
            Ok(()) => {
                backoff.reset();
                TICK
            }
            Err(_) => backoff.next_delay(),
        };
        drop(src);
        tokio::time::sleep(delay).await;
    }
}

impl CredentialSource for DynamicRoleSource {
    fn current(&self) -> CredentialFuture<'_> {
        Box::pin(async move {
            if let Some(c) = self.inner.usable(Instant::now()) {
                return Ok(c);
            }
            let result = self
                .inner
                .take_lease_if(|st| {
                    st.rejected
                        || st
                            .current
                            .as_ref()
                            .is_none_or(|h| Instant::now() >= h.retire_at())
                })
                .await;
            match (self.inner.usable(Instant::now()), result) {
                (Some(c), _) => Ok(c),
                (None, Err(e)) => Err(CredentialError::Unavailable {
                    source_name: self.describe(),
                    reason: e.to_string(),
                }),
                (None, Ok(())) => Err(CredentialError::Unavailable {
                    source_name: self.describe(),
                    reason: "no lease".into(),
                }),
            }
        })
    }

    fn invalidate(&self, stale: &Credentials) {
        let mut st = self.inner.state();
        if st
            .current
            .as_ref()
            .is_some_and(|h| h.creds.generation == stale.generation)
        {
            st.rejected = true;
        }
    }

    fn describe(&self) -> String {
        format!("Vault {}", self.inner.name)
    }

    fn health(&self) -> SourceHealth {
        let st = self.inner.state();
        let now = Instant::now();
        let usable = !st.rejected && st.current.as_ref().is_some_and(|h| now < h.retire_at());
        match (&st.failing, usable) {
            (None, true) => SourceHealth::Ok,
            (Some(e), true) => SourceHealth::Degraded(e.clone()),
            (Some(e), false) => SourceHealth::Failed(e.clone()),
            (None, false) => SourceHealth::Failed("no valid lease".into()),
        }
    }

    /// Revokes every lease held, so no generated user outlives sluice.
    fn close(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let leases: Vec<String> = {
                let mut st = self.inner.state();
                let mut all: Vec<Held> = std::mem::take(&mut st.retired);
                all.extend(st.current.take());
                all.into_iter().map(|h| h.lease_id).collect()
            };
            for id in leases {
                if let Err(e) = self.inner.revoke(&id).await {
                    tracing::warn!(source = %self.inner.name, error = %e, "cannot revoke a lease at shutdown");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn held(granted: u64, remaining: u64, renewable: bool, capped: bool) -> Held {
        let now = Instant::now();
        Held {
            creds: Arc::new(Credentials::new("u", Secret::new("p"), 1)),
            lease_id: "l".into(),
            granted: Duration::from_secs(granted),
            expires_at: now + Duration::from_secs(remaining),
            renewable,
            capped,
        }
    }

    #[test]
    fn renews_at_half_and_replaces_when_capped() {
        let now = Instant::now();
        assert!(!held(60, 40, true, false).wants_renewal(now));
        assert!(held(60, 29, true, false).wants_renewal(now));
        assert!(!held(60, 29, true, false).wants_successor(now));
        assert!(held(60, 29, true, true).wants_successor(now));
        assert!(!held(60, 29, true, true).wants_renewal(now));
        assert!(held(60, 29, false, false).wants_successor(now));
        assert!(!held(60, 40, false, false).wants_successor(now));
    }

    #[test]
    fn connections_retire_before_the_end() {
        let h = held(40, 40, true, false);
        assert_eq!(h.retire_margin(), Duration::from_secs(10));
        assert!(h.retire_at() < h.expires_at);
        assert_eq!(
            held(2, 2, true, false).retire_margin(),
            Duration::from_secs(1)
        );
        assert_eq!(
            held(3600, 3600, true, false).retire_margin(),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn unused_counts_connections() {
        let h = held(60, 60, true, false);
        assert!(h.unused());
        let in_use = h.creds.clone();
        assert!(!h.unused());
        drop(in_use);
        assert!(h.unused());
    }
}
