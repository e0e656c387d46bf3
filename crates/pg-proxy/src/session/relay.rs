//! The relay loop of one client session. It owns the client connection and, between a
//! checkout and a release, one server connection; it translates client messages
//! (`client_messages.rs`), matches server replies against the pipeline
//! (`server_messages.rs`), and attaches/releases servers (`lifecycle.rs`).

use std::sync::Arc;

use bytes::BytesMut;
use pool_core::pool::PooledConnection;
use pool_core::shutdown::{Phase, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::pipeline::Pipeline;
use super::portals::Portals;
use super::settings::{SessionCommand, Settings};
use super::statements::ClientStatements;
use crate::cancel::Registration;
use crate::protocol::backend::{self, Severity};
use crate::protocol::tags::TxStatus;
use crate::route::{PgManager, PoolMode, Route};
use crate::stream::Stream;

/// Largest client message sluice buffers whole (CopyData is streamed, not buffered).
pub const CLIENT_MESSAGE_LIMIT: usize = 256 << 20;
/// Largest server message buffered whole (DataRow and CopyData are streamed).
pub const SERVER_MESSAGE_LIMIT: usize = 256 << 20;
const READ_CHUNK: usize = 16 * 1024;
/// Read size for client requests, which are usually small.
const CLIENT_READ_CHUNK: usize = 4096;
/// Larger output buffers are given back when the client goes idle.
const IDLE_BUFFER_KEEP: usize = 4096;

/// Why a session ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("client I/O: {0}")]
    ClientIo(std::io::Error),
    #[error("server I/O: {0}")]
    ServerIo(std::io::Error),
    #[error("protocol violation by client: {0}")]
    ClientProtocol(String),
    #[error("protocol violation by server: {0}")]
    ServerProtocol(String),
    #[error("{0}")]
    Closed(&'static str),
}

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
    pub(super) client: Stream,
    pub(super) client_in: BytesMut,
    pub(super) client_out: BytesMut,
    /// Bytes of a streamed client message still to forward.
    pub(super) client_passthrough: usize,
    pub(super) server: Option<PooledConnection<Arc<PgManager>>>,
    pub(super) server_out: BytesMut,
    /// Bytes of a streamed server message still to forward.
    pub(super) server_passthrough: usize,
    pub(super) pipeline: Pipeline,
    /// The server is in copy-in mode and the client has not ended the COPY yet.
    pub(super) server_copy_in: bool,
    pub(super) statements: ClientStatements,
    /// The settings the client wants on whichever server serves it.
    pub(super) settings: Settings,
    /// SET/RESET seen inside the current transaction, applied when it commits.
    pub(super) pending_commands: Vec<SessionCommand>,
    pub(super) tx_status: TxStatus,
    /// Session commands of the unnamed statement; what each portal runs.
    pub(super) unnamed_commands: Option<Arc<[SessionCommand]>>,
    pub(super) portals: Portals,
    /// The server must not be reused (fatal error, broken state).
    pub(super) server_broken: bool,
    pub(super) cancel: Registration,
    pub(super) shutdown: Shutdown,
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
        shutdown: Shutdown,
    ) -> Self {
        let settings = info.base_settings.clone();
        Self {
            route,
            info,
            client,
            client_in,
            client_out: BytesMut::with_capacity(1024),
            client_passthrough: 0,
            server: None,
            server_out: BytesMut::new(),
            server_passthrough: 0,
            pipeline: Pipeline::default(),
            server_copy_in: false,
            statements: ClientStatements::default(),
            settings,
            pending_commands: Vec::new(),
            tx_status: TxStatus::Idle,
            unnamed_commands: None,
            portals: Portals::default(),
            server_broken: false,
            cancel,
            shutdown,
        }
    }

    /// Runs the session to its end. The server connection, if any, is released or
    /// discarded before returning.
    pub async fn run(mut self) -> Result<(), SessionError> {
        let result = self.run_loop().await;
        self.finish(result.is_ok()).await;
        result
    }

    async fn run_loop(&mut self) -> Result<(), SessionError> {
        loop {
            if self.server.is_none() {
                if !self.wait_for_request().await? {
                    return Ok(());
                }
                if self.answer_parses_without_server()? {
                    self.flush_client().await?;
                    continue;
                }
                self.attach().await?;
            }
            if self.process_client_input()? == Flow::Terminate {
                return Ok(());
            }
            self.flush().await?;
            if self.can_release() {
                self.release().await;
                if self.shutdown.phase() >= Phase::Draining {
                    self.send_fatal(
                        "57P01",
                        "terminating connection due to administrator command",
                    )
                    .await;
                    return Ok(());
                }
                continue;
            }
            self.wait_for_io().await?;
        }
    }

    /// Between transactions: waits until the client has a whole message to serve.
    /// Returns false when the session should end (client gone or told to go).
    async fn wait_for_request(&mut self) -> Result<bool, SessionError> {
        loop {
            if self.has_client_message()? {
                return Ok(true);
            }
            if self.shutdown.phase() >= Phase::Draining {
                self.send_fatal(
                    "57P01",
                    "terminating connection due to administrator command",
                )
                .await;
                return Ok(false);
            }
            if self.client_in.is_empty() {
                // An idle client holds no buffers: they are allocated again when it speaks.
                self.client_in = BytesMut::new();
                if self.client_out.capacity() > IDLE_BUFFER_KEEP {
                    self.client_out = BytesMut::new();
                }
            }
            let mut shutdown = self.shutdown.clone();
            tokio::select! {
                ready = self.client.readable() => {
                    ready.map_err(SessionError::ClientIo)?;
                }
                _ = shutdown.reached(Phase::Draining) => continue,
            }
            self.client_in.reserve(CLIENT_READ_CHUNK);
            // Readiness can be spurious, so the read itself still yields to a drain.
            let read = tokio::select! {
                read = self.client.read_buf(&mut self.client_in) => read,
                _ = shutdown.reached(Phase::Draining) => continue,
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
        match crate::protocol::frame::parse_header(&self.client_in, CLIENT_MESSAGE_LIMIT) {
            Ok(Some(h)) => Ok(self.client_in.len() >= h.frame_len()),
            Ok(None) => Ok(false),
            Err(e) => Err(SessionError::ClientProtocol(e.to_string())),
        }
    }

    /// Sends what the translation produced: first to the server, then local answers to
    /// the client.
    pub(super) async fn flush(&mut self) -> Result<(), SessionError> {
        if !self.server_out.is_empty() {
            let server = self.server.as_mut().expect("flush without server");
            server
                .stream
                .write_all(&self.server_out)
                .await
                .map_err(SessionError::ServerIo)?;
            self.server_out.clear();
        }
        self.flush_client().await
    }

    pub(super) async fn flush_client(&mut self) -> Result<(), SessionError> {
        if !self.client_out.is_empty() {
            self.route
                .metrics
                .bytes_to_clients
                .increment(self.client_out.len() as u64);
            self.client
                .write_all(&self.client_out)
                .await
                .map_err(SessionError::ClientIo)?;
            self.client_out.clear();
        }
        Ok(())
    }

    /// The server can go back to the pool: the transaction is over and nothing is owed.
    fn can_release(&self) -> bool {
        self.route.settings.mode == PoolMode::Transaction
            && self.tx_status == TxStatus::Idle
            && self.pipeline.is_settled()
            && self.client_passthrough == 0
            && self.server_passthrough == 0
            && !self.server_copy_in
            && !self.server_broken
    }

    /// While attached: waits for data from either side (or a timeout), and relays
    /// what the server sent.
    async fn wait_for_io(&mut self) -> Result<(), SessionError> {
        let idle_in_tx = self.tx_status != TxStatus::Idle && self.pipeline.is_empty();
        let idle_timeout = self
            .route
            .settings
            .idle_in_transaction_timeout
            .filter(|_| idle_in_tx);
        let server: &mut crate::server::ServerConn = self.server.as_mut().expect("attached");
        if server.read_buf.capacity() - server.read_buf.len() < 1024 {
            server.read_buf.reserve(READ_CHUNK);
        }
        if self.client_in.capacity() - self.client_in.len() < 1024 {
            self.client_in.reserve(CLIENT_READ_CHUNK);
        }
        let mut shutdown = self.shutdown.clone();
        let event = tokio::select! {
            biased;
            read = server.stream.read_buf(&mut server.read_buf) => Event::Server(read),
            read = self.client.read_buf(&mut self.client_in) => Event::Client(read),
            _ = sleep_or_never(idle_timeout) => Event::IdleTimeout,
            _ = shutdown.reached(Phase::Closing) => Event::Shutdown,
        };
        match event {
            Event::Server(Ok(0)) => {
                self.server_broken = true;
                self.send_fatal("08006", "server closed the connection unexpectedly")
                    .await;
                Err(SessionError::Closed("server closed the connection"))
            }
            Event::Server(Err(e)) => {
                self.server_broken = true;
                self.send_fatal("08006", "lost the server connection").await;
                Err(SessionError::ServerIo(e))
            }
            Event::Server(Ok(_)) => {
                self.process_server_input()?;
                self.flush_client().await
            }
            Event::Client(Ok(0)) => Err(SessionError::Closed("client disconnected")),
            Event::Client(Ok(n)) => {
                self.route.metrics.bytes_from_clients.increment(n as u64);
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
        }
    }

    /// Sends a FATAL ErrorResponse; the caller ends the session.
    pub(super) async fn send_fatal(&mut self, code: &str, message: &str) {
        backend::error_response(&mut self.client_out, Severity::Fatal, code, message);
        let _ = self.flush_client().await;
    }
}

enum Event {
    Server(std::io::Result<usize>),
    Client(std::io::Result<usize>),
    IdleTimeout,
    Shutdown,
}

async fn sleep_or_never(d: Option<std::time::Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
