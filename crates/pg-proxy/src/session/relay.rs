//! The relay loop of one client session. It owns the client connection and, between a
//! checkout and a release, one server connection (`attached.rs`); it translates client
//! messages (`client_messages.rs`), matches server replies against the pipeline
//! (`server_messages.rs`), and attaches/releases servers (`lifecycle.rs`).

use std::sync::Arc;

use bytes::BytesMut;
use pool_core::activity::doorbell::{CLOSING, DRAINING, KILLED};
use pool_core::activity::ClientListing;
use pool_core::net::spare_buffers;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::attached::{Attached, Gone, ServerHealth};
use super::client_conn::ClientConn;
use super::error::{SessionError, CLIENT_MESSAGE_LIMIT};
use super::pipeline::Pipeline;
use super::resend::Resend;
use super::view::ClientView;
use crate::cancel::Registration;
use crate::protocol::tags::TxStatus;
use crate::route::{PoolMode, Route};
use crate::sql::trusted::TrustedFunctions;
use crate::state::pin::PinReason;
use crate::state::settings::{SessionCommand, Settings};
use crate::stream::Stream;

/// Read size for server replies.
const READ_CHUNK: usize = 16 * 1024;
/// Read size for client requests, which are usually small.
const CLIENT_READ_CHUNK: usize = 4096;

/// What the client's startup carried into the session.
pub struct SessionInfo {
    pub user: String,
    pub database: String,
    /// Startup parameters that RESET returns to.
    pub base_settings: Settings,
}

pub struct Relay {
    pub(super) route: Arc<Route>,
    pub(super) info: SessionInfo,
    pub(super) client: ClientConn,
    /// Translated client messages for the server. Kept across attachments so its
    /// capacity is reused.
    pub(super) server_out: BytesMut,
    pub(super) pipeline: Pipeline,
    /// The request under way, kept while it can go to another server.
    pub(super) resend: Resend,
    pub(super) view: ClientView,
    pub(super) cancel: Registration,
    /// The session in SHOW CLIENTS: what it does now, and its doorbell, rung by
    /// KILL_CLIENT and as the replica drains and closes (looked at before each wait,
    /// and waited on with the session's I/O).
    pub(super) listing: ClientListing,
    /// A client that reads nothing for this long loses its session.
    client_write_timeout: std::time::Duration,
    /// Counts the client as pinned until the session ends.
    pinned_count: Option<pool_core::route_metrics::PinnedClient>,
}

/// How a client's message batch ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Terminate,
}

impl Relay {
    pub fn new(
        route: Arc<Route>,
        info: SessionInfo,
        client: Stream,
        client_in: BytesMut,
        cancel: Registration,
        listing: ClientListing,
    ) -> Self {
        let view = ClientView::new(info.base_settings.clone());
        Self {
            route,
            info,
            client: ClientConn::new(client, client_in),
            server_out: BytesMut::new(),
            pipeline: Pipeline::default(),
            resend: Resend::default(),
            view,
            cancel,
            listing,
            client_write_timeout: crate::frontend::DEFAULT_CLIENT_WRITE_TIMEOUT,
            pinned_count: None,
        }
    }

    pub fn with_client_write_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.client_write_timeout = timeout;
        self
    }

    /// Runs the session to its end, on `attached` first when the client was given a
    /// server connection already (session mode). The server connection, if any, is
    /// released or discarded before returning.
    /// (Not an `async fn`: that would keep a second copy of its arguments in the
    /// session's future for its whole life.)
    #[allow(clippy::manual_async_fn)]
    pub fn run(
        mut self,
        mut attached: Option<Attached>,
    ) -> impl std::future::Future<Output = Result<(), SessionError>> + Send {
        async move {
            let result = self.run_loop(&mut attached).await;
            Box::pin(self.finish(attached, result.is_ok())).await;
            self.log_end(&result);
            result
        }
    }

    /// Between transactions the session waits in a small future of its own; the work
    /// of a request (checkout, relay, release), with its larger state, runs in one
    /// allocated for it and freed when the session is idle again. An idle client costs
    /// its session's state, not the deepest of the states it went through.
    async fn run_loop(&mut self, attached: &mut Option<Attached>) -> Result<(), SessionError> {
        loop {
            if attached.is_none() && !self.wait_for_request().await? {
                return Ok(());
            }
            if !Box::pin(self.serve_request(attached)).await? {
                return Ok(());
            }
        }
    }

    /// Serves the request the client sent, on `attached` or a server checked out for
    /// it, until the server is released (true: the session goes on) or the session
    /// ends (false). A session that keeps its server (session mode, pinned) stays here.
    async fn serve_request(
        &mut self,
        attached: &mut Option<Attached>,
    ) -> Result<bool, SessionError> {
        if attached.is_none() {
            if self.answer_lost_transaction()? || self.answer_parses_without_server()? {
                self.flush_client().await?;
                return Ok(true);
            }
            let server = self.attach().await?;
            if self.can_resend_from_here() {
                self.resend.open();
            }
            *attached = Some(server);
        }
        loop {
            let Some(server) = attached.as_mut() else {
                return Ok(true);
            };
            if server.health == ServerHealth::Lost {
                // Its server went away and the session goes on (`server_gone.rs`).
                if let Some(server) = attached.take() {
                    self.after_lost_server(server).await?;
                }
                continue;
            }
            if self.process_client_input(server)? == Flow::Terminate {
                return Ok(false);
            }
            match self.flush(server).await {
                Err(SessionError::ServerIo(_)) if self.outlive_server(server, Gone::Unwritable) => {
                    continue
                }
                flushed => flushed?,
            }
            if self.can_release(server) {
                if let Some(server) = attached.take() {
                    self.release(server).await;
                }
                if self.listing.bell().is_rung(DRAINING | CLOSING) {
                    self.send_fatal(
                        "57P01",
                        "terminating connection due to administrator command",
                    )
                    .await;
                    return Ok(false);
                }
                return Ok(true);
            }
            self.wait_for_io(server).await?;
        }
    }

    /// Between transactions: waits until the client has a whole message to serve.
    /// Returns false when the session should end (client gone or told to go).
    async fn wait_for_request(&mut self) -> Result<bool, SessionError> {
        loop {
            // Before a request that came with the kill: it does not run.
            if self.listing.bell().is_rung(KILLED) {
                Box::pin(self.send_killed()).await;
                return Ok(false);
            }
            if self.has_client_message()? {
                return Ok(true);
            }
            if self.listing.bell().is_rung(DRAINING | CLOSING) {
                Box::pin(self.send_fatal(
                    "57P01",
                    "terminating connection due to administrator command",
                ))
                .await;
                return Ok(false);
            }
            if self.client.input.is_empty() {
                // An idle client holds no buffers: they go back to the worker's spares
                // and are taken again when it speaks.
                spare_buffers::give_back_if_empty(&mut self.client.input);
                spare_buffers::give_back_if_empty(&mut self.client.output);
                spare_buffers::give_back_if_empty(&mut self.server_out);
                self.pipeline.release_memory();
            }
            let bell = self.listing.bell();
            tokio::select! {
                ready = self.client.stream.readable() => {
                    ready.map_err(SessionError::ClientIo)?;
                }
                _ = bell.rung(KILLED | DRAINING | CLOSING) => continue,
            }
            spare_buffers::ensure(&mut self.client.input);
            spare_buffers::ensure(&mut self.client.output);
            spare_buffers::ensure(&mut self.server_out);
            if self.client.input.capacity() - self.client.input.len() < 1024 {
                self.client.input.reserve(CLIENT_READ_CHUNK);
            }
            // Readiness can be spurious, so the read itself still yields to a drain.
            let read = tokio::select! {
                read = self.client.stream.read_buf(&mut self.client.input) => read,
                _ = bell.rung(KILLED | DRAINING | CLOSING) => continue,
            };
            match read {
                Ok(0) => return Ok(false),
                Ok(n) => self.route.metrics.bytes_from_clients.increment(n as u64),
                Err(e) => return Err(SessionError::ClientIo(e)),
            }
        }
    }

    /// Whether a complete message (or a streamable one) is buffered.
    fn has_client_message(&self) -> Result<bool, SessionError> {
        match crate::protocol::frame::parse_header(&self.client.input, CLIENT_MESSAGE_LIMIT) {
            Ok(Some(h)) => Ok(self.client.input.len() >= h.frame_len()),
            Ok(None) => Ok(false),
            Err(e) => Err(SessionError::ClientProtocol(e.to_string())),
        }
    }

    /// Sends what the translation produced: first to the server, then local answers to
    /// the client.
    pub(super) async fn flush(&mut self, server: &mut Attached) -> Result<(), SessionError> {
        if !self.server_out.is_empty() {
            let written = server.conn.stream.write_all(&self.server_out).await;
            self.server_out.clear();
            written.map_err(SessionError::ServerIo)?;
        }
        self.flush_replies().await
    }

    /// Sends the client its replies, unless they are held back because the request
    /// may still go to another server (`resend.rs`): only until the server has
    /// answered the rest, which it sends in the same breath.
    async fn flush_replies(&mut self) -> Result<(), SessionError> {
        if self.resend.is_due() {
            return Ok(());
        }
        if self.resend.is_open() {
            if !self.pipeline.is_empty() {
                return Ok(());
            }
            self.resend.shut();
        }
        self.flush_client().await
    }

    /// A server attached now serves a new request, from between transactions, that can
    /// be kept to send again.
    fn can_resend_from_here(&self) -> bool {
        self.route.settings.mode == PoolMode::Transaction
            && self.view.pinned.is_none()
            && self.view.tx_status == TxStatus::Idle
            && self.view.lost_transaction.is_none()
            && self.pipeline.is_settled()
            && self.client.passthrough == 0
            && self.client.output.is_empty()
    }

    pub(super) async fn flush_client(&mut self) -> Result<(), SessionError> {
        if !self.client.output.is_empty() {
            self.route
                .metrics
                .bytes_to_clients
                .increment(self.client.output.len() as u64);
            // Most replies fit the socket's buffer: written at once, with no timer armed.
            let n = self
                .client
                .stream
                .write_now(&self.client.output)
                .map_err(SessionError::ClientIo)?;
            bytes::Buf::advance(&mut self.client.output, n);
            if self.client.output.is_empty() {
                return Ok(());
            }
            let write = self.client.stream.write_all(&self.client.output);
            match tokio::time::timeout(self.client_write_timeout, write).await {
                Ok(written) => written.map_err(SessionError::ClientIo)?,
                Err(_) => {
                    // It stopped reading: its server connection, with replies still in
                    // flight, is closed rather than held for it.
                    tracing::info!(route = %self.route.name, user = %self.info.user, "client read nothing for client_write_timeout; session ended");
                    return Err(SessionError::Closed("client stopped reading"));
                }
            }
            self.client.output.clear();
        }
        Ok(())
    }

    /// The server can go back to the pool: the transaction is over and nothing is owed.
    fn can_release(&self, server: &Attached) -> bool {
        self.route.settings.mode == PoolMode::Transaction
            && self.between_transactions(server)
            && !server.is_unusable()
            && self.view.pinned.is_none()
    }

    /// No transaction is open and nothing of a request is in flight on `server`.
    fn between_transactions(&self, server: &Attached) -> bool {
        self.view.tx_status == TxStatus::Idle
            && self.pipeline.is_settled()
            && self.client.passthrough == 0
            && server.passthrough == 0
            && !server.copy_in
    }

    /// While attached: waits for data from either side (or a timeout), and relays
    /// what the server sent.
    async fn wait_for_io(&mut self, server: &mut Attached) -> Result<(), SessionError> {
        let idle_in_tx = self.view.tx_status != TxStatus::Idle && self.pipeline.is_empty();
        let idle_timeout = self
            .route
            .settings
            .idle_in_transaction_timeout
            .filter(|_| idle_in_tx);
        // A client that keeps its server (session mode, pinned) is told to go when
        // draining starts only between its transactions, as one in transaction mode is.
        // Nothing half-sent may be buffered either: it would be lost.
        let can_go = self.between_transactions(server) && self.client.input.is_empty();
        let conn = &mut *server.conn;
        if conn.read_buf.capacity() - conn.read_buf.len() < 1024 {
            conn.read_buf.reserve(READ_CHUNK);
        }
        if self.client.input.capacity() - self.client.input.len() < 1024 {
            self.client.input.reserve(CLIENT_READ_CHUNK);
        }
        // What ends the wait besides I/O: draining only between transactions.
        let ends = if can_go {
            KILLED | DRAINING | CLOSING
        } else {
            KILLED | CLOSING
        };
        let bell = self.listing.bell();
        // Looked at first: while data streams, the reads below are always ready.
        let rung = || {
            if bell.is_rung(KILLED) {
                Event::Killed
            } else {
                Event::Shutdown
            }
        };
        let event = if bell.is_rung(ends) {
            rung()
        } else {
            tokio::select! {
            biased;
            read = conn.stream.read_buf(&mut conn.read_buf) => Event::Server(read),
            read = self.client.stream.read_buf(&mut self.client.input) => Event::Client(read),
            _ = sleep_or_never(idle_timeout) => Event::IdleTimeout,
            _ = bell.rung(ends) => rung(),
            }
        };
        match event {
            Event::Server(Ok(0) | Err(_)) if self.outlive_server(server, Gone::Closed) => Ok(()),
            Event::Server(Ok(0)) => {
                server.health = ServerHealth::Broken;
                self.send_fatal("08006", "server closed the connection unexpectedly")
                    .await;
                Err(SessionError::Closed("server closed the connection"))
            }
            Event::Server(Err(e)) => {
                server.health = ServerHealth::Broken;
                self.send_fatal("08006", "lost the server connection").await;
                Err(SessionError::ServerIo(e))
            }
            Event::Server(Ok(_)) => {
                self.process_server_input(server)?;
                self.flush_replies().await?;
                if server.health == ServerHealth::Ending {
                    // The client has the server's FATAL error: nothing of sluice's follows.
                    return Err(SessionError::Closed("the server ended the connection"));
                }
                Ok(())
            }
            Event::Client(Ok(0)) => Err(SessionError::Closed("client disconnected")),
            Event::Client(Ok(n)) => {
                self.route.metrics.bytes_from_clients.increment(n as u64);
                self.listing.requested();
                Ok(())
            }
            Event::Client(Err(e)) => Err(SessionError::ClientIo(e)),
            Event::IdleTimeout => {
                self.send_fatal(
                    "25P03",
                    "terminating connection due to idle-in-transaction timeout",
                )
                .await;
                Err(SessionError::Closed("idle-in-transaction timeout"))
            }
            Event::Shutdown => {
                self.send_fatal(
                    "57P01",
                    "terminating connection due to administrator command",
                )
                .await;
                Err(SessionError::Closed("shutdown"))
            }
            Event::Killed => {
                let in_flight = !self.pipeline.is_settled()
                    || self.client.passthrough > 0
                    || server.passthrough > 0
                    || server.copy_in;
                if in_flight {
                    // What runs now is cancelled, not left running for nobody. With a
                    // cancel on its way the connection is closed, never reused: the
                    // cancel must not reach the next client's query. A transaction
                    // with nothing running is just rolled back when the session ends.
                    server.health = ServerHealth::Broken;
                    tokio::spawn(crate::cancel::deliver(server.conn.cancel));
                }
                self.send_killed().await;
                Err(SessionError::Closed(
                    "ended by the administrator (KILL_CLIENT)",
                ))
            }
        }
    }

    /// Keeps the server connection for the rest of the session: the client's session now
    /// holds state that cannot follow it to another server connection.
    pub(super) fn pin(&mut self, why: PinReason) {
        if self.view.pinned.is_none() && self.route.settings.mode == PoolMode::Transaction {
            tracing::debug!(route = %self.route.name, user = %self.info.user, reason = why.as_str(), "client keeps its server connection");
            self.pinned_count = Some(self.route.metrics.count_pinned(why.as_str()));
            self.view.pinned = Some(why);
        }
    }

    /// Pins when `commands` (what the client is about to run) hold state that cannot
    /// move; the classification puts that first.
    pub(super) fn pin_for(&mut self, commands: Option<&[SessionCommand]>) {
        if let Some([SessionCommand::Pin(why), ..]) = commands {
            self.pin(*why);
        }
    }

    /// The route's trusted functions.
    pub(super) fn trusted(&self) -> &TrustedFunctions {
        &self.route.settings.trusted_functions
    }

    /// Whether the client's settings make a backslash escape in plain strings.
    pub(super) fn backslash_escapes(&self) -> bool {
        self.view.backslash_escapes()
    }
}

enum Event {
    Server(std::io::Result<usize>),
    Client(std::io::Result<usize>),
    IdleTimeout,
    Shutdown,
    Killed,
}

async fn sleep_or_never(d: Option<std::time::Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
