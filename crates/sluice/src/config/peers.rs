//! The `[peers]` section: the other replicas of a Deployment, for cancel and KILL
//! requests that reach the wrong one (`pool_core::peers`).

use std::net::SocketAddr;

use pool_core::peers::PeerSettings;
use pool_core::secret::Secret;
use serde::Deserialize;

use super::collector::Collector;

/// Shortest shared secret accepted: it signs every request between replicas.
const MIN_SECRET_LEN: usize = 16;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersConfig {
    /// Where this replica listens for its peers' requests.
    pub listen: String,
    /// The peers' `host:port`: a static list, or a headless Service's name.
    pub addresses: Vec<String>,
    /// A file holding the secret every replica shares.
    pub secret_file: String,
    #[serde(default = "default_refresh")]
    pub refresh_interval: String,
    #[serde(default = "default_timeout")]
    pub forward_timeout: String,
}

fn default_refresh() -> String {
    "10s".into()
}
fn default_timeout() -> String {
    "2s".into()
}

/// `[peers]`, checked.
#[derive(Debug, Clone)]
pub struct PeersSettings {
    pub listen: SocketAddr,
    pub secret: std::sync::Arc<Secret>,
    pub peers: PeerSettings,
}

impl PartialEq for PeersSettings {
    fn eq(&self, other: &Self) -> bool {
        self.listen == other.listen
            && self.peers == other.peers
            && self.secret.expose() == other.secret.expose()
    }
}

/// Checks the `[peers]` section and reads its secret.
pub(super) fn validate(c: &mut Collector<'_>, p: &PeersConfig) -> PeersSettings {
    let listen = c.addr("peers.listen", &p.listen);
    if p.addresses.is_empty() {
        c.add(
            "peers.addresses",
            "empty: name the peers (a headless Service's host:port, or each replica's)",
        );
    }
    for a in &p.addresses {
        let port = a
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok());
        if port.is_none() {
            c.add("peers.addresses", format!("\"{a}\" is not host:port"));
        }
    }
    let (_, text) = c.read("peers.secret_file", &p.secret_file);
    let secret = text
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if text.is_some() && secret.len() < MIN_SECRET_LEN {
        // The length only, never the secret.
        c.add(
            "peers.secret_file",
            format!("the secret must be at least {MIN_SECRET_LEN} characters"),
        );
    }
    PeersSettings {
        listen,
        secret: std::sync::Arc::new(Secret::new(secret)),
        peers: PeerSettings {
            addresses: p.addresses.clone(),
            refresh: c.positive_duration("peers.refresh_interval", &p.refresh_interval),
            timeout: c.positive_duration("peers.forward_timeout", &p.forward_timeout),
        },
    }
}
