//! The session's hold on a server connection: checking one out of the route's pool
//! (moving to a reloaded route, skipping an unreachable read-only member), giving it
//! back at transaction boundaries, and handing it back clean when the client leaves.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use pool_core::pool::PoolError;

use super::client_session::Session;
use super::run::killed_by_admin;
use crate::kill::Serving;
use crate::metrics::count_error;
use crate::protocol::capabilities as caps;
use crate::protocol::ok_err::ErrPacket;
use crate::route::{Access, PoolMode};
use crate::server::ServerError;

/// A client waiting for a writable member, up to the cluster's `failover_timeout`.
struct Hold {
    timeout: Duration,
    started: Option<Instant>,
    pause: Duration,
}

impl Hold {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            started: None,
            pause: Duration::from_millis(25),
        }
    }

    /// Pauses before the next attempt; false when the time to wait is used up.
    async fn wait(&mut self) -> bool {
        let started = *self.started.get_or_insert_with(Instant::now);
        let left = self.timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return false;
        }
        tokio::time::sleep(self.pause.min(left)).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(500));
        true
    }

    /// How long the client has been held, if at all.
    fn held(&self) -> Option<Duration> {
        self.started.map(|t| t.elapsed())
    }
}

impl Session {
    /// After a reload replaced this client's route (new credentials, cluster, mode),
    /// its next transaction goes to the new one: nothing of the session lives on a
    /// server connection between transactions. False when the database is gone.
    fn follow_reloaded_route(&mut self) -> bool {
        match self.fe.route(&self.route.name) {
            Some(newer) if !Arc::ptr_eq(&newer, &self.route) => {
                tracing::info!(peer = %self.peer, route = %self.route.name, "client moves to the reloaded route");
                self.route = newer;
                true
            }
            _ => false,
        }
    }

    /// Checks out a server connection when the session has none. The wait (queued,
    /// paused, held through a failover) ends early when an administrator ends the
    /// session; nothing has been sent on a connection then.
    pub(super) async fn ensure_server(&mut self) -> Result<(), ErrPacket> {
        if self.server.is_some() {
            return Ok(());
        }
        self.listing.waiting();
        // Owned, so the checkout can borrow the session; waiting on it costs one atomic.
        let killed = self.listing.kill_signal();
        let outcome = tokio::select! {
            checked_out = self.check_out_server() => checked_out,
            _ = killed => Err(killed_by_admin()),
        };
        if outcome.is_ok() && self.listing.is_killed() {
            self.release_now().await;
            return Err(killed_by_admin());
        }
        if outcome.is_err() {
            self.listing.idle();
        }
        outcome
    }

    /// Checks out a server connection. A read-only client whose member cannot be
    /// reached is sent to another readable member (or the writable one) at once,
    /// rather than waiting for the member watcher.
    async fn check_out_server(&mut self) -> Result<(), ErrPacket> {
        let mut attempts = self.route.pools.len();
        let mut hold = Hold::new(self.route.cluster.failover_timeout);
        loop {
            let found_rows = self.capabilities & caps::FOUND_ROWS != 0;
            let (member, pool) = match self.route.pool_for(self.access, found_rows) {
                Ok(found) => found,
                // No writable member (a switchover): wait for the member watcher to
                // find the new one.
                Err(_) if hold.wait().await => continue,
                Err(e) => {
                    count_error("no_member");
                    self.record_hold(&hold, false);
                    return Err(ErrPacket::new(
                        1105,
                        "HY000",
                        format!("sluice: pool '{}': {e}", self.route.name),
                    ));
                }
            };
            let guard = match pool.get().await {
                Ok(g) => g,
                Err(PoolError::Closed) if self.follow_reloaded_route() => continue,
                Err(PoolError::Connect(inner))
                    if self.access == Access::ReadWrite && inner.is_unavailable() =>
                {
                    // The writable member went away: it is marked down until the
                    // watcher finds it (or another) writable again.
                    tracing::warn!(route = %self.route.name, member = %self.route.cluster.endpoints[member],
                        error = %inner, "writable member unreachable; holding the client");
                    self.route
                        .cluster
                        .set_role(member, crate::members::Role::Down);
                    if hold.wait().await {
                        continue;
                    }
                    self.record_hold(&hold, false);
                    return Err(self.checkout_error(member, PoolError::Connect(inner)));
                }
                Err(PoolError::Connect(inner))
                    if self.access == Access::ReadOnly && attempts > 1 =>
                {
                    attempts -= 1;
                    tracing::warn!(route = %self.route.name, member = %self.route.cluster.endpoints[member],
                        error = %inner, "read-only member unreachable; trying another");
                    self.route
                        .cluster
                        .set_role(member, crate::members::Role::Down);
                    continue;
                }
                Err(e) => return Err(self.checkout_error(member, e)),
            };
            self.route
                .metrics
                .checkout_wait
                .record(guard.waited().as_secs_f64());
            if !guard.tcp_alive() {
                // Closed by the server while idle (timeout, restart, failover).
                self.route.metrics.count_lost_server();
                guard.discard();
                continue;
            }
            self.record_hold(&hold, true);
            let server_id = guard.listing().map_or(0, |s| {
                s.serves(self.listing.id);
                s.id
            });
            self.listing.serving(server_id);
            self.kill
                .set_serving(Some(Serving {
                    member,
                    thread_id: guard.thread_id,
                }))
                .await;
            self.server = Some(guard);
            return Ok(());
        }
    }

    fn record_hold(&self, hold: &Hold, served: bool) {
        if let Some(held) = hold.held() {
            self.route.metrics.count_held(held, served);
            tracing::info!(peer = %self.peer, route = %self.route.name, held_ms = held.as_millis() as u64, served,
                "client held while the cluster had no writable member");
        }
    }

    fn checkout_error(&self, member: usize, e: PoolError<ServerError>) -> ErrPacket {
        let err = match &e {
            PoolError::Timeout(d) => {
                count_error("pool_timeout");
                ErrPacket::new(1040, "08004", format!(
                    "sluice: timed out after {d:?} waiting for a server connection in pool '{}' (member {})",
                    self.route.name, self.route.cluster.endpoints[member]))
            }
            PoolError::Closed => ErrPacket::server_shutdown(),
            PoolError::Connect(inner) => {
                count_error("server_connect");
                ErrPacket::new(
                    1105,
                    "HY000",
                    format!(
                        "sluice: cannot open a server connection for pool '{}': {inner}",
                        self.route.name
                    ),
                )
            }
        };
        tracing::warn!(peer = %self.peer, route = %self.route.name, error = %err, "no server connection for a client");
        err
    }

    /// Gives the server connection back at a transaction boundary when nothing ties
    /// the client to it.
    pub(super) async fn release_if_idle(&mut self) {
        if self.server.is_none()
            || self.route.settings.mode == PoolMode::Session
            || self.state.pinned.is_some()
            || self.state.in_transaction
        {
            return;
        }
        self.kill.set_serving(None).await;
        self.listing.idle();
        self.server = None;
    }

    /// Closes the server connection instead of giving it back: it is in a state
    /// sluice does not know (a response half-read).
    /// Gives the server connection back now, whatever the session's state (the
    /// caller knows the connection is clean: its last command was refused unrun).
    pub(super) async fn release_now(&mut self) {
        if self.server.take().is_some() {
            self.kill.set_serving(None).await;
            self.listing.idle();
        }
    }

    pub(super) async fn discard_server(&mut self) {
        if let Some(g) = self.server.take() {
            self.kill.set_serving(None).await;
            self.listing.idle();
            g.discard();
        }
    }

    /// The client is gone: its server connection goes back clean, or is closed.
    pub(super) async fn finish(&mut self) {
        let Some(mut guard) = self.server.take() else {
            return;
        };
        self.kill.set_serving(None).await;
        self.listing.idle();
        if let Some(why) = self.state.pinned {
            // Its state (user variables, temporary tables, locks) must not reach
            // another client: reset on the server, or closed when that fails.
            if !why.reset_clears() {
                guard.discard();
                return;
            }
            if let Err(e) = guard.reset().await {
                tracing::debug!(error = %e, "resetting a server connection failed; closing it");
                guard.discard();
            }
            return;
        }
        if self.state.in_transaction && guard.execute("ROLLBACK").await.is_err() {
            guard.discard();
            return;
        }
        drop(guard);
    }
}
