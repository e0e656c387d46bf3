//! The admin HTTP listener: `/metrics` (Prometheus), `/healthz` (the process runs),
//! `/readyz` (the listeners are up; route problems are listed but do not fail it) and
//! `/routes` (each route's health, JSON; see `status`). A deliberately small HTTP/1.1 responder: one GET per
//! connection.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pool_core::shutdown::{Phase, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::status::Status;

/// Buckets of every histogram (waits, query, transaction and connect times), in seconds.
/// Set explicitly so that the histograms of several replicas can be summed.
const WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
];

pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(WAIT_BUCKETS)?
        .install_recorder()?;
    Ok(handle)
}

pub async fn serve(listener: TcpListener, state: Arc<Status>, mut shutdown: Shutdown) {
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

async fn handle(mut stream: TcpStream, state: Arc<Status>) {
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
        ("GET", "/routes") => ("200 OK", "application/json", state.routes_json()),
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
