//! The transport part of opening a server connection, the same for both protocols:
//! TCP with a timeout, the TLS upgrade once the protocol has agreed to it, a deadline
//! for the whole set-up, and the errors of those steps.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::net::TcpStream;

use super::stream::Stream;
use super::tls::server_name;
use super::Endpoint;

/// Why the transport to a server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out connecting to {0}")]
    Timeout(String),
    #[error("TLS to {endpoint}: {reason}")]
    Tls { endpoint: String, reason: String },
    #[error("server {0} does not accept TLS, which the route requires")]
    TlsRefused(String),
}

/// Opens TCP to `endpoint` within `limit`, with Nagle off (sluice writes whole
/// messages and the client waits on each answer).
pub async fn connect_tcp(endpoint: &Endpoint, limit: Duration) -> Result<TcpStream, LinkError> {
    let unreachable = |source| LinkError::Connect {
        endpoint: endpoint.to_string(),
        source,
    };
    let tcp = tokio::time::timeout(
        limit,
        TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
    )
    .await
    .map_err(|_| LinkError::Timeout(endpoint.to_string()))?
    .map_err(unreachable)?;
    tcp.set_nodelay(true).map_err(unreachable)?;
    watch_liveness(&tcp).map_err(unreachable)?;
    Ok(tcp)
}

/// Idle time before the first keepalive probe, and between probes.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_PROBES: u32 = 3;
/// Unacknowledged data older than this ends the connection.
const USER_TIMEOUT: Duration = Duration::from_secs(30);

/// A member that vanishes without closing its connections (a node lost, a network
/// partition) is noticed in seconds rather than after the kernel's two hours: idle
/// connections are probed, and sent data left unacknowledged fails the connection.
fn watch_liveness(tcp: &TcpStream) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(tcp);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    Ok(())
}

/// The error of a set-up that overran its deadline. The protocol runs its whole set-up
/// (greeting, TLS, authentication) under one `tokio::time::timeout`, so a server that
/// accepts TCP and then stalls cannot hold a pool slot for long. (A plain timeout at the
/// call site, not an async helper: a helper would hold the set-up future twice, and
/// every session's future holds a connect.)
pub fn deadline_passed(endpoint: &Endpoint) -> LinkError {
    LinkError::Timeout(endpoint.to_string())
}

/// Upgrades a connection to TLS once the server agreed to it, checking the server's
/// certificate against `endpoint`'s host name as `config` requires.
pub async fn start_tls(
    tcp: TcpStream,
    endpoint: &Endpoint,
    config: Arc<ClientConfig>,
) -> Result<Stream, LinkError> {
    let failed = |reason: String| LinkError::Tls {
        endpoint: endpoint.to_string(),
        reason,
    };
    let name = server_name(&endpoint.host).map_err(|e| failed(e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(Stream::Connected(Box::new(tls)))
}
