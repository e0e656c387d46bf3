//! Metric handles of the Vault client and of each credential source. Label values are
//! role names and the Vault address, never a secret.

use std::time::Instant;

use metrics::{counter, gauge, Counter, Gauge};

pub(crate) struct VaultMetrics {
    pub up: Gauge,
    pub logins: Counter,
    pub login_failures: Counter,
    pub request_failures: Counter,
    token_ttl: Gauge,
}

impl VaultMetrics {
    pub(crate) fn new() -> Self {
        Self {
            up: gauge!("sluice_vault_up"),
            logins: counter!("sluice_vault_logins_total"),
            login_failures: counter!("sluice_vault_login_failures_total"),
            request_failures: counter!("sluice_vault_request_failures_total"),
            token_ttl: gauge!("sluice_vault_token_ttl_seconds"),
        }
    }

    /// Seconds until the token expires; -1 for a token without expiry.
    pub(crate) fn set_token_ttl(&self, expires_at: Option<Instant>) {
        let v = expires_at.map_or(-1.0, |t| {
            t.saturating_duration_since(Instant::now()).as_secs_f64()
        });
        self.token_ttl.set(v);
    }
}

/// Per credential source (`source` = `static:<mount>/<role>` or `dynamic:<mount>/<role>`).
#[derive(Clone)]
pub(crate) struct SourceMetrics {
    pub fetches: Counter,
    pub fetch_failures: Counter,
    /// Password changes seen (static roles) or new leases taken (dynamic roles).
    pub rotations: Counter,
    pub lease_renewals: Counter,
    pub lease_revocations: Counter,
    /// Seconds until the next expected rotation (static) or the lease's end (dynamic).
    pub expires_in: Gauge,
    pub generation: Gauge,
}

impl SourceMetrics {
    pub(crate) fn new(source: &str) -> Self {
        let s = source.to_owned();
        Self {
            fetches: counter!("sluice_credential_fetches_total", "source" => s.clone()),
            fetch_failures: counter!("sluice_credential_fetch_failures_total", "source" => s.clone()),
            rotations: counter!("sluice_credential_rotations_total", "source" => s.clone()),
            lease_renewals: counter!("sluice_credential_lease_renewals_total", "source" => s.clone()),
            lease_revocations: counter!("sluice_credential_lease_revocations_total", "source" => s.clone()),
            expires_in: gauge!("sluice_credential_rotation_seconds", "source" => s.clone()),
            generation: gauge!("sluice_credential_generation", "source" => s),
        }
    }

    pub(crate) fn set_expiry(&self, at: Option<Instant>) {
        let v = at.map_or(-1.0, |t| {
            t.saturating_duration_since(Instant::now()).as_secs_f64()
        });
        self.expires_in.set(v);
    }
}
