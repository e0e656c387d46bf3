//! The admin HTTP listener: `/metrics` (Prometheus), `/healthz` (the process runs) and
//! `/readyz` (listeners up and every route reaches a primary). A deliberately small
//! HTTP/1.1 responder: one GET per connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pg_proxy::frontend::Frontend;
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
    metrics: PrometheusHandle,
    listening: AtomicBool,
}

impl AdminState {
    pub fn new(frontend: Arc<Frontend>, metrics: PrometheusHandle) -> Self {
        Self {
            frontend,
            metrics,
            listening: AtomicBool::new(false),
        }
    }

    pub fn set_listening(&self, up: bool) {
        self.listening.store(up, Ordering::Relaxed);
    }

    /// Names of routes that cannot reach a primary; empty when ready.
    fn unready_routes(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .frontend
            .routes()
            .values()
            .filter(|r| !r.is_ready())
            .map(|r| r.name.clone())
            .collect();
        names.sort();
        names
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
                .set(route.clients.load(Ordering::Relaxed) as f64);
            metrics::gauge!("sluice_route_ready", "protocol" => "postgres", "pool" => pool)
                .set(if route.is_ready() { 1.0 } else { 0.0 });
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
            let unready = state.unready_routes();
            if !state.listening.load(Ordering::Relaxed) {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    "not listening\n".to_owned(),
                )
            } else if unready.is_empty() {
                ("200 OK", "text/plain", "ready\n".to_owned())
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    format!("no primary reachable for: {}\n", unready.join(", ")),
                )
            }
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
