//! Credentials of a Vault static role: one database user whose password Vault rotates
//! every `rotation_period`. The password is fetched again shortly after each rotation
//! (Vault's `ttl` says when), and at once when the database refuses it. While Vault is
//! unreachable the cached password keeps serving: existing sessions survive a rotation,
//! and until the next rotation new logins succeed too.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::client::Vault;
use super::error::VaultError;
use super::retry::{jitter, Backoff};
use super::role::RoleInner;
use super::task::OwnedTask;
use crate::credentials::{
    CredentialError, CredentialFuture, CredentialSource, Credentials, SourceHealth,
};
use crate::secret::Secret;

/// Longest sleep between refreshes, so a manual rotation or a Vault outage is noticed
/// even when the next scheduled rotation is days away.
const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// How often the "seconds until rotation" gauge is brought up to date.
const GAUGE_EVERY: Duration = Duration::from_secs(5);
/// Vault rotates from a queue it checks every few seconds: when a rotation is due but
/// the password has not changed yet, look again this soon.
const ROTATION_PENDING_RETRY: Duration = Duration::from_secs(1);
/// Added at random to the scheduled refresh, so replicas do not ask at once.
const REFRESH_JITTER: Duration = Duration::from_secs(2);

pub struct StaticRoleSource {
    inner: Arc<Inner>,
    _refresh: OwnedTask,
}

type Inner = RoleInner<State>;

#[derive(Default)]
struct State {
    cached: Option<Arc<Credentials>>,
    /// `last_vault_rotation` of the cached password.
    rotated_at: String,
    /// The database refused the cached password.
    rejected: bool,
    /// When Vault will rotate next, from its `ttl`.
    next_rotation: Option<Instant>,
    /// Set while fetching fails.
    failing: Option<String>,
}

impl StaticRoleSource {
    /// Starts the refresh loop, which fetches the credentials at once.
    pub fn new(vault: Arc<Vault>, mount: &str, role: &str) -> Self {
        let inner = Arc::new(Inner::new(vault, "static", mount, role));
        let refresh = OwnedTask(tokio::spawn(refresh_loop(Arc::downgrade(&inner))));
        Self {
            inner,
            _refresh: refresh,
        }
    }
}

impl Inner {
    /// The cached credentials, if the database has not refused them.
    fn usable(&self) -> Option<Arc<Credentials>> {
        let st = self.state();
        st.cached.clone().filter(|_| !st.rejected)
    }

    /// Fetches unless another caller's fetch completed while this one waited.
    async fn fetch_if(&self, needed: impl Fn(&State) -> bool) -> Result<(), VaultError> {
        let _one = self.fetching.lock().await;
        if !needed(&self.state()) {
            return Ok(());
        }
        self.fetch().await
    }

    async fn fetch(&self) -> Result<(), VaultError> {
        self.metrics.fetches.increment(1);
        let (mount, role) = (self.mount.clone(), self.role.clone());
        let answer = self
            .vault
            .call("static role credentials", move |c| {
                let (mount, role) = (mount.clone(), role.clone());
                Box::pin(
                    async move { vaultrs::database::static_role::creds(c, &mount, &role).await },
                )
            })
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                self.metrics.fetch_failures.increment(1);
                let mut st = self.state();
                if st.failing.is_none() {
                    tracing::warn!(source = %self.name, error = %e, "cannot fetch credentials; keeping the cached ones");
                }
                st.failing = Some(e.to_string());
                return Err(e);
            }
        };
        let password = Secret::new(answer.password);
        let now = Instant::now();
        let mut st = self.state();
        st.failing = None;
        st.next_rotation = Some(now + Duration::from_secs(answer.ttl));
        self.metrics.set_expiry(st.next_rotation);
        let changed = st.cached.as_ref().is_none_or(|c| {
            c.username != answer.username || c.password.expose() != password.expose()
        });
        if changed {
            let generation = st.cached.as_ref().map_or(1, |c| c.generation + 1);
            if st.cached.is_some() {
                self.metrics.rotations.increment(1);
                tracing::info!(source = %self.name, generation, last_vault_rotation = %answer.last_vault_rotation, "password rotated; new server connections use the new one");
            } else {
                tracing::info!(source = %self.name, username = %answer.username, "fetched credentials");
            }
            self.metrics.generation.set(generation as f64);
            st.cached = Some(Arc::new(Credentials::new(
                answer.username,
                password,
                generation,
            )));
            st.rotated_at = answer.last_vault_rotation;
        }
        st.rejected = false;
        Ok(())
    }

    /// How long the refresh loop sleeps before fetching again.
    fn next_refresh_in(&self, now: Instant) -> Duration {
        let st = self.state();
        match st.next_rotation {
            Some(at) if at > now => (at - now + jitter(REFRESH_JITTER)).min(MAX_REFRESH_INTERVAL),
            // The rotation is due: Vault performs it within a few seconds.
            Some(_) => ROTATION_PENDING_RETRY,
            None => Duration::ZERO,
        }
    }
}

async fn refresh_loop(inner: Weak<Inner>) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut next_fetch = Instant::now();
    loop {
        let Some(src) = inner.upgrade() else { return };
        let now = Instant::now();
        if now >= next_fetch {
            match src.fetch_if(|_| true).await {
                Ok(()) => {
                    backoff.reset();
                    next_fetch = Instant::now() + src.next_refresh_in(Instant::now());
                }
                Err(_) => next_fetch = Instant::now() + backoff.next_delay(),
            }
        }
        let next_rotation = src.state().next_rotation;
        src.metrics.set_expiry(next_rotation);
        drop(src);
        let sleep = next_fetch
            .saturating_duration_since(Instant::now())
            .min(GAUGE_EVERY);
        tokio::time::sleep(sleep).await;
    }
}

impl CredentialSource for StaticRoleSource {
    fn current(&self) -> CredentialFuture<'_> {
        Box::pin(async move {
            if let Some(c) = self.inner.usable() {
                return Ok(c);
            }
            // Nothing usable yet (start-up) or the database refused it: fetch now.
            let result = self
                .inner
                .fetch_if(|st| st.cached.is_none() || st.rejected)
                .await;
            match (self.inner.usable(), result) {
                (Some(c), _) => Ok(c),
                (None, Err(e)) => Err(CredentialError::Unavailable {
                    source_name: self.describe(),
                    reason: e.to_string(),
                }),
                (None, Ok(())) => Err(CredentialError::Unavailable {
                    source_name: self.describe(),
                    reason: "no credentials".into(),
                }),
            }
        })
    }

    fn invalidate(&self, stale: &Credentials) {
        let mut st = self.inner.state();
        if st
            .cached
            .as_ref()
            .is_some_and(|c| c.generation == stale.generation)
        {
            st.rejected = true;
        }
    }

    fn describe(&self) -> String {
        format!("Vault {}", self.inner.name)
    }

    fn health(&self) -> SourceHealth {
        let st = self.inner.state();
        let usable = st.cached.is_some() && !st.rejected;
        match (&st.failing, usable) {
            (None, true) => SourceHealth::Ok,
            (Some(e), true) => SourceHealth::Degraded(e.clone()),
            (Some(e), false) => SourceHealth::Failed(e.clone()),
            (None, false) if st.rejected => {
                SourceHealth::Failed("the database refused the credentials".into())
            }
            (None, false) => SourceHealth::Failed("credentials not fetched yet".into()),
        }
    }
}
