//! What the admin listener reports: readiness (listeners up, every route of every side
//! reaches a server that takes its queries and has usable credentials) and the gauges
//! of `/metrics`, rendered the same way for every side with a protocol label.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use pool_core::credentials::vault::Vault;
use pool_core::credentials::SourceHealth;

use crate::sides::{RouteHealth, Side};

pub struct Status {
    sides: Vec<Arc<dyn Side>>,
    vault: Option<Arc<Vault>>,
    metrics: PrometheusHandle,
    listening: AtomicBool,
}

impl Status {
    pub fn new(
        sides: Vec<Arc<dyn Side>>,
        vault: Option<Arc<Vault>>,
        metrics: PrometheusHandle,
    ) -> Self {
        Self {
            sides,
            vault,
            metrics,
            listening: AtomicBool::new(false),
        }
    }

    pub fn set_listening(&self, up: bool) {
        self.listening.store(up, Ordering::Relaxed);
    }

    /// Whether this replica can take clients (its listeners are up with its
    /// configuration loaded), and one line per problem of a route. A route's problem
    /// (no primary, credentials refused, Vault failing) never makes the replica
    /// unready: every replica shares it, so Kubernetes would take all of them out of
    /// service together and every app, not just that route's, would lose sluice.
    /// Route health is watched per route instead (`/routes`, `sluice_route_ready`).
    pub fn readiness(&self) -> (bool, Vec<String>) {
        let ready = self.listening.load(Ordering::Relaxed);
        let mut lines = Vec::new();
        if !ready {
            lines.push("not listening".to_owned());
        }
        for side in &self.sides {
            for route in side.route_health() {
                route_readiness(&route, &mut lines);
            }
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

    /// Every route's health as JSON: protocol, route, whether it can serve, and its
    /// problems (the same lines as `/readyz`).
    pub fn routes_json(&self) -> String {
        let routes: Vec<serde_json::Value> = self
            .sides
            .iter()
            .flat_map(|side| {
                let protocol = side.protocol();
                side.route_health().into_iter().map(move |route| {
                    let mut problems = Vec::new();
                    let ready = route_readiness(&route, &mut problems);
                    serde_json::json!({
                        "protocol": protocol,
                        "route": route.name,
                        "ready": ready,
                        "problems": problems,
                    })
                })
            })
            .collect();
        let mut body = serde_json::json!({ "routes": routes }).to_string();
        body.push('\n');
        body
    }

    /// The Prometheus text: the recorded metrics, with the gauges set from each side's
    /// routes first.
    pub fn render_metrics(&self) -> String {
        for side in &self.sides {
            set_gauges(side.as_ref());
        }
        self.metrics.render()
    }
}

/// Adds the lines of one route; false when it cannot serve.
fn route_readiness(route: &RouteHealth, lines: &mut Vec<String>) -> bool {
    let name = &route.label;
    let mut ready = true;
    if let Some(problem) = &route.unreachable {
        ready = false;
        lines.push(format!("{name}: {problem}"));
    }
    let source = &route.credentials;
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
    ready
}

fn set_gauges(side: &dyn Side) {
    let protocol = side.protocol();
    metrics::gauge!("sluice_clients", "protocol" => protocol).set(side.client_count() as f64);
    metrics::gauge!("sluice_clients_login", "protocol" => protocol).set(side.login_count() as f64);
    for route in side.route_gauges() {
        let pool = route.route;
        let set = |state: &'static str, v: usize| {
            metrics::gauge!("sluice_pool_servers", "protocol" => protocol, "pool" => pool.clone(), "state" => state)
                .set(v as f64)
        };
        set("idle", route.pool.idle);
        set("active", route.pool.in_use);
        set("opening", route.pool.opening);
        metrics::gauge!("sluice_pool_clients_waiting", "protocol" => protocol, "pool" => pool.clone())
            .set(route.pool.waiting as f64);
        metrics::gauge!("sluice_pool_clients", "protocol" => protocol, "pool" => pool.clone())
            .set(route.clients as f64);
        // A client holding a server holds one checked-out connection; the rest of the
        // route's clients are waiting for one or idle between transactions.
        let active = route.pool.in_use.min(route.clients);
        let idle = route.clients.saturating_sub(active + route.pool.waiting);
        metrics::gauge!("sluice_pool_clients_active", "protocol" => protocol, "pool" => pool.clone())
            .set(active as f64);
        metrics::gauge!("sluice_pool_clients_idle", "protocol" => protocol, "pool" => pool.clone())
            .set(idle as f64);
        metrics::gauge!("sluice_route_ready", "protocol" => protocol, "pool" => pool)
            .set(if route.ready { 1.0 } else { 0.0 });
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
