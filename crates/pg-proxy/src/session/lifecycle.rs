//! Checking a server out for the client, replaying the client's settings on it, and
//! giving it back clean (or closing it) when the transaction or session ends.

use std::time::Duration;

use pool_core::pool::{hold_while_unavailable, Held, PoolError};

use super::attached::{Attached, ServerGuard};
use super::error::SessionError;
use super::pipeline::Expect;
use super::relay::Relay;
use crate::metrics::count_error;
use crate::protocol::frontend;
use crate::protocol::tags::TxStatus;
use crate::route::{PoolMode, Route};
use crate::server::{simple_query, QueryAnswer, ServerError};

/// How long a rollback on a server whose client vanished may take before the server is
/// closed instead.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Server connections tried for one request when each goes away as it is prepared.
const MAX_ATTACH_TRIES: u32 = 3;

/// Checks out a server connection, skipping idle ones the server has closed. While
/// the cluster has no reachable primary (a switchover), the client is held up to the
/// cluster's `failover_timeout`. A failure comes with its SQLSTATE and message for the
/// client.
pub(super) async fn check_out(route: &Route) -> Result<ServerGuard, (&'static str, String)> {
    let started = std::time::Instant::now();
    let timeout = route.cluster().failover_timeout;
    let Held { result, held } = hold_while_unavailable(
        timeout,
        || quiet_connection(route),
        ServerError::is_unavailable,
    )
    .await;
    if !held.is_zero() {
        route.metrics.count_held(held, result.is_ok());
        tracing::info!(route = %route.name, held_ms = held.as_millis() as u64, served = result.is_ok(), "client held while the cluster had no reachable primary");
    }
    let conn = result.map_err(|e| checkout_error(&route.name, &e))?;
    route
        .metrics
        .checkout_wait
        .record(started.elapsed().as_secs_f64());
    tracing::trace!(waited = ?started.elapsed(), server_pid = conn.cancel.process_id, "server attached");
    Ok(conn)
}

/// The next pooled connection the server has not closed meanwhile.
async fn quiet_connection(route: &Route) -> Result<ServerGuard, PoolError<ServerError>> {
    loop {
        let conn = route.pool.get().await?;
        if !route.cluster().is_current_primary(conn.cancel.addr) {
            // Opened before a switchover, to the server that was primary then.
            tracing::debug!(route = %route.name, "server connection to a former primary closed");
            route.metrics.count_lost_server();
            conn.discard();
            continue;
        }
        if conn.is_quiet() {
            return Ok(conn);
        }
        // Closed (or condemned) by the server while idle, as every connection to a
        // primary that stopped is: take another, and have the watcher look.
        tracing::debug!(route = %route.name, "idle server connection was closed by the server");
        route.metrics.count_lost_server();
        route.cluster().check_soon();
        conn.discard();
    }
}

fn checkout_error(pool: &str, e: &PoolError<ServerError>) -> (&'static str, String) {
    match e {
        PoolError::Timeout(waited) => {
            count_error("checkout_timeout");
            (
                "53300",
                format!(
                    "no server connection available in pool \"{pool}\" after {:.1}s (pool is full)",
                    waited.as_secs_f64()
                ),
            )
        }
        PoolError::Closed => ("57P01", format!("pool \"{pool}\" is shutting down")),
        PoolError::Connect(err) => {
            count_error("server_connect");
            (
                "08006",
                format!("pool \"{pool}\" cannot reach its database: {err}"),
            )
        }
    }
}

impl Relay {
    /// Checks out a server connection and prepares it for this client. One that goes
    /// away while it takes the client's settings (a switchover under way) is replaced.
    pub(super) async fn attach(&mut self) -> Result<Attached, SessionError> {
        let mut tries = 0;
        self.listing.waiting();
        loop {
            // Only the wait for a connection yields to a kill: what follows runs
            // on the connection, which must not go back to the pool half-done.
            let checked_out = tokio::select! {
                c = check_out(&self.route) => c,
                _ = self.listing.bell().rung(pool_core::activity::doorbell::KILLED) => {
                    self.send_killed().await;
                    return Err(SessionError::Closed("ended by the administrator (KILL_CLIENT)"));
                }
            };
            let conn = match checked_out {
                Ok(conn) => conn,
                Err((code, message)) => {
                    let info = &self.info;
                    tracing::warn!(route = %self.route.name, user = %info.user, database = %info.database, error = %message, "checkout failed");
                    self.send_fatal(code, &message).await;
                    return Err(SessionError::Closed("checkout failed"));
                }
            };
            tries += 1;
            match self
                .adopt_or_give_back(conn, tries < MAX_ATTACH_TRIES)
                .await
            {
                Some(attached) => return attached,
                None => continue,
            }
        }
    }

    /// Makes `conn` this client's server: cancels reach it, and it takes the client's
    /// settings before the client's request goes to it. A server that refuses them
    /// (rare: a value that was valid once) is closed and the session ends with its
    /// error: the request never runs with the previous client's settings.
    pub(super) async fn adopt(&mut self, conn: ServerGuard) -> Result<Attached, SessionError> {
        self.adopt_or_give_back(conn, false)
            .await
            .expect("adopted or failed")
    }

    /// [`adopt`](Self::adopt); with `may_give_back`, a server that went away while it
    /// took the settings is closed and None returned, for another to be checked out.
    async fn adopt_or_give_back(
        &mut self,
        mut conn: ServerGuard,
        may_give_back: bool,
    ) -> Option<Result<Attached, SessionError>> {
        if let Some(sql) = self.view.settings().diff_sql(&conn.settings) {
            let outcome =
                tokio::time::timeout(CLEANUP_TIMEOUT, simple_query(&mut conn, &sql)).await;
            match outcome {
                Ok(Ok(QueryAnswer { idle: true, .. })) => {
                    conn.settings = self.view.settings().clone()
                }
                Ok(Err(e)) if may_give_back && e.is_unavailable() => {
                    tracing::debug!(route = %self.route.name, error = %e, "server went away while taking the client's settings; another is checked out");
                    self.route.metrics.count_lost_server();
                    conn.discard();
                    return None;
                }
                failed => {
                    let (code, detail) = match failed {
                        Ok(Err(ServerError::Rejected(fields))) => (fields.code, fields.message),
                        _ => ("08006".to_owned(), "no answer".to_owned()),
                    };
                    // The message can quote the value; only the code is logged.
                    tracing::warn!(route = %self.route.name, user = %self.info.user, code = %code, "replaying the client's session settings failed");
                    conn.discard();
                    let message = format!("sluice could not set this session's settings on a server connection: {detail}");
                    self.send_fatal(&code, &message).await;
                    return Some(Err(SessionError::Closed("settings replay failed")));
                }
            }
        }
        self.cancel.slot.set_target(Some(conn.cancel)).await;
        let server_id = conn.listing().map_or(0, |s| {
            s.serves(self.listing.id);
            s.id
        });
        self.listing.serving(server_id);
        Some(Ok(Attached::new(conn)))
    }

    /// Brings the attached server's settings to the client's, ahead of its next request.
    pub(super) fn replay_settings(&mut self, server: &Attached) {
        if let Some(sql) = self.view.settings().diff_sql(&server.conn.settings) {
            frontend::write_query(&mut self.server_out, &sql);
            self.pipeline.push(Expect::Internal { failed: false });
        }
    }

    /// Returns the server to the pool at a transaction boundary.
    pub(super) async fn release(&mut self, server: Attached) {
        tracing::trace!("server released");
        self.cancel.slot.set_target(None).await;
        self.listing.idle();
        if server.is_unusable() {
            server.conn.discard();
        } else {
            drop(server);
        }
    }

    /// At the end of the session: hands the server back clean, or closes it.
    pub(super) async fn finish(&mut self, server: Option<Attached>, clean_exit: bool) {
        let Some(server) = server else {
            return;
        };
        self.cancel.slot.set_target(None).await;
        let reusable = !server.is_unusable()
            && self.client.passthrough == 0
            && server.passthrough == 0
            && self.pipeline.is_settled();
        let mut conn = server.conn;
        if !reusable {
            // Replies are still in flight or the protocol state is unknown.
            if !clean_exit {
                tracing::debug!(route = %self.route.name, "closing server connection left mid-request");
            }
            conn.discard();
            return;
        }
        // A pinned client's session state stays on the server until it is reset, as
        // in session mode.
        let keeps_state =
            self.route.settings.mode == PoolMode::Session || self.view.pinned.is_some();
        let reset: &[&str] = match (keeps_state, self.view.tx_status) {
            (false, TxStatus::Idle) => &[],
            (false, _) => &["ROLLBACK"],
            (true, TxStatus::Idle) => &["DISCARD ALL"],
            // DISCARD ALL cannot share a query string with ROLLBACK.
            (true, _) => &["ROLLBACK", "DISCARD ALL"],
        };
        let mut ok = true;
        for sql in reset {
            // Only an idle server after it counts: the reset left no transaction open.
            ok = matches!(
                tokio::time::timeout(CLEANUP_TIMEOUT, simple_query(&mut conn, sql)).await,
                Ok(Ok(QueryAnswer { idle: true, .. }))
            );
            if !ok {
                break;
            }
        }
        if ok {
            if reset.contains(&"DISCARD ALL") {
                conn.statements.clear();
                conn.settings = Default::default();
            }
            drop(conn);
        } else {
            conn.discard();
        }
    }
}
