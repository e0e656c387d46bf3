//! What the binary does with a protocol side (PostgreSQL, MySQL), whatever the protocol:
//! reload it, drain and close it, count its clients, report each route's health and
//! gauges. Starting differs per protocol (each takes its own section) and is done by the
//! side's constructor.

use std::collections::HashMap;
use std::sync::Arc;

use pool_core::activity::ClientEntry;
use pool_core::credentials::CredentialSource;
use pool_core::frontend::Sessions;
use pool_core::pool::{PauseGate, PoolStatus};
use pool_core::shutdown::Shutdown;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::config::{CredentialSettings, Validated};
use crate::peering::Keys;
use crate::sources::Sources;
use crate::workers::Workers;

/// How often idle-timeout, lifetime and min-idle are enforced.
pub const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What a side needs to start: the worker threads that serve its clients, the shared
/// credential sources, and the shutdown signal its sessions follow.
pub struct StartContext<'a> {
    pub runtimes: &'a [Handle],
    pub sources: &'a mut Sources,
    /// The cancel keys and connection ids the listeners give out.
    pub keys: &'a Keys,
    pub shutdown: Shutdown,
}

impl<'a> StartContext<'a> {
    pub fn new(
        workers: &'a Workers,
        sources: &'a mut Sources,
        keys: &'a Keys,
        shutdown: &Shutdown,
    ) -> Self {
        Self {
            runtimes: workers.handles(),
            sources,
            keys,
            shutdown: shutdown.clone(),
        }
    }
}

pub trait Side: Send + Sync {
    /// The protocol, as metrics label it: `postgres`, `mysql`.
    fn protocol(&self) -> &'static str;

    /// Applies a reloaded configuration: users, access rules, TLS, limits and routes,
    /// without dropping clients. A configuration without this side's section leaves the
    /// side as it is; listen addresses need a restart. With `vault_changed`, routes
    /// using Vault are rebuilt with the new client's sources.
    fn reload(
        &self,
        settings: &Validated,
        sources: &mut Sources,
        vault_changed: bool,
    ) -> anyhow::Result<()>;

    /// Whether a change of the `[vault]` section needs a restart of this side.
    fn restart_for_vault_change(&self) -> bool {
        false
    }

    /// What its credential sources were built from: kept open on reload.
    fn credentials(&self) -> Vec<CredentialSettings>;

    /// The listener tasks, handed over once to be awaited when draining (they end when
    /// the shutdown phase reaches draining).
    fn take_listeners(&self) -> Vec<JoinHandle<()>>;

    /// Clients connected now (authenticated).
    fn client_count(&self) -> usize;

    /// Clients in their handshake now (TLS, startup, authentication): not on a route yet.
    fn login_count(&self) -> usize;

    /// The running client sessions, for the drain to wait on.
    fn sessions(&self) -> Sessions;

    /// Each route's health for `/readyz`, by route name.
    fn route_health(&self) -> Vec<RouteHealth>;

    /// Each route's pool counters for `/metrics`.
    fn route_gauges(&self) -> Vec<RouteGauges>;

    /// Closes every pool: the last step of a shutdown.
    fn close(&self);

    /// Pauses or resumes the pools of the route named `route` (every route without
    /// one); how many routes it applied to.
    fn set_paused(&self, route: Option<&str>, paused: bool) -> usize;

    /// Closes the idle server connections of the route named `route` (every route
    /// without one) and each checked-out one when it comes back; how many routes it
    /// applied to.
    fn reconnect(&self, route: Option<&str>) -> usize;

    /// Stops what `client` (a session of any protocol) runs on its server now, where
    /// the session cannot do it itself: it is about to be ended by the console.
    fn interrupt<'a>(&'a self, _client: &'a ClientEntry) -> BoxFuture<'a> {
        Box::pin(std::future::ready(()))
    }
}

/// A future a side returns to the console.
pub type BoxFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Runs `act` on the route named `route` (every route without one); how many routes
/// it ran on.
pub fn each_route<R>(
    routes: &HashMap<String, Arc<R>>,
    route: Option<&str>,
    act: impl Fn(&R),
) -> usize {
    let chosen = routes
        .iter()
        .filter(|(name, _)| route.is_none_or(|n| n == *name));
    chosen.map(|(_, r)| act(r)).count()
}

/// Pauses or resumes one pool's checkouts.
pub fn set_gate(gate: &PauseGate, paused: bool) {
    if paused {
        gate.pause();
    } else {
        gate.resume();
    }
}

/// Whether a route can serve, for `/readyz`.
pub struct RouteHealth {
    /// The route's (database's) name.
    pub name: String,
    /// How `/readyz` names the route.
    pub label: String,
    /// Why it cannot reach a server that can take its queries, when it cannot.
    pub unreachable: Option<String>,
    /// Where its server credentials come from.
    pub credentials: Arc<dyn CredentialSource>,
}

/// A route's counters, for `/metrics` and the admin console.
pub struct RouteGauges {
    pub route: String,
    /// The pool's counters, summed over its members.
    pub pool: PoolStatus,
    pub clients: usize,
    pub ready: bool,
    /// When a server connection goes back to the pool.
    pub mode: pool_core::mode::PoolMode,
    /// Whether the console has paused its pools.
    pub paused: bool,
    /// Transactions, queries and bytes since the route was built.
    pub totals: pool_core::tally::Totals,
}
