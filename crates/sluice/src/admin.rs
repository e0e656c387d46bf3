//! The admin HTTP listener: `/metrics` (Prometheus), `/healthz` (the process runs) and
//! `/readyz` (listeners up, every route reaches a primary and has usable credentials). A deliberately small
//! HTTP/1.1 responder: one GET per connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pg_proxy::frontend::Frontend;
use pool_core::credentials::vault::Vault;
use pool_core::credentials::SourceHealth;
use pool_core::shutdown::{Phase, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Buckets of the checkout wait histogram, in seconds. Set explicitly so that the
/// histograms of several replicas can be summed.
const WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];

pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(WAIT_BUCKETS)?
        .install_recorder()?;
    Ok(handle)
}

pub struct AdminState {
    frontend: Arc<Frontend>,
    mysql: Option<Arc<crate::mysql::MysqlSide>>,
    vault: Option<Arc<Vault>>,
    metrics: PrometheusHandle,
    listening: AtomicBool,
}

impl AdminState {
    pub fn new(
        frontend: Arc<Frontend>,
        mysql: Option<Arc<crate::mysql::MysqlSide>>,
        vault: Option<Arc<Vault>>,
        metrics: PrometheusHandle,
    ) -> Self {
        Self {
            frontend,
            mysql,
            vault,
            metrics,
            listening: AtomicBool::new(false),
        }
    }

    pub fn set_listening(&self, up: bool) {
        self.listening.store(up, Ordering::Relaxed);
    }

    /// Whether sluice can serve, and one line per problem. A credential source that
    /// fails while its cached credentials still work is reported but keeps it ready:
    /// taking every replica out of service because Vault is down would turn a Vault
    /// outage into a database outage.
    fn readiness(&self) -> (bool, Vec<String>) {
        let mut ready = self.listening.load(Ordering::Relaxed);
        let mut lines = Vec::new();
        if !ready {
            lines.push("not listening".to_owned());
        }
        let routes = self.frontend.routes();
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        for name in names {
            let route = &routes[name];
            if !route.is_ready() {
                ready = false;
                lines.push(format!("{name}: no primary reachable"));
            }
            let source = route.pool.manager().credentials.clone();
            match source.health() {
                SourceHealth::Ok => {}
                SourceHealth::Degraded(e) => lines.push(format!(
                    "{name}: {} failing, serving with cached credentials: {e}",
                    source.describe()
                )),
                SourceHealth::Failed(e) => {
                    ready = false;
                    lines.push(format!(
                        "{name}: no usable credentials from {}: {e}",
                        source.describe()
                    ));
                }
            }
        }
        if let Some(m) = &self.mysql {
            ready &= m.readiness(&mut lines);
        }
        if let Some(vault) = &self.vault {
            if let Some((since, e)) = vault.status().failing {
                lines.push(format!(
                    "vault {}: failing for {}s: {e}",
                    vault.address(),
                    since.elapsed().as_secs()
                ));
            }
        }
        (ready, lines)
    }

    fn render_metrics(&self) -> String {
        metrics::gauge!("sluice_clients", "protocol" => "postgres")
            .set(self.frontend.client_count() as f64);
        for route in self.frontend.routes().values() {
            let s = route.pool.status();
            let pool = route.name.clone();
            let set = |state: &'static str, v: usize| {
                metrics::gauge!("sluice_pool_servers", "protocol" => "postgres", "pool" => pool.clone(), "state" => state)
                    .set(v as f64)
            };
            set("idle", s.idle);
            set("active", s.in_use);
            set("opening", s.opening);
            metrics::gauge!("sluice_pool_clients_waiting", "protocol" => "postgres", "pool" => pool.clone())
                .set(s.waiting as f64);
            metrics::gauge!("sluice_pool_clients", "protocol" => "postgres", "pool" => pool.clone())
                .set(route.clients.count() as f64);
            metrics::gauge!("sluice_route_ready", "protocol" => "postgres", "pool" => pool)
                .set(if route.is_ready() { 1.0 } else { 0.0 });
        }
        if let Some(m) = &self.mysql {
            m.render_metrics();
        }
        self.metrics.render()
    }
}

pub async fn serve(listener: TcpListener, state: Arc<AdminState>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(handle(stream, state.clone()));
                }
            }
            _ = shutdown.reached(Phase::Closing) => return,
        }
    }
}

async fn handle(mut stream: TcpStream, state: Arc<AdminState>) {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                return Some(());
            }
            if buf.len() > 8192 {
                return None;
            }
        }
    })
    .await;
    if !matches!(read, Ok(Some(()))) {
        return;
    }
    let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4",
            state.render_metrics(),
        ),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        ("GET", "/readyz") => {
            let (ready, lines) = state.readiness();
            let mut body = if ready { "ready\n" } else { "not ready\n" }.to_owned();
            for line in lines {
                body.push_str(&line);
                body.push('\n');
            }
            let status = if ready {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (status, "text/plain", body)
        }
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}
