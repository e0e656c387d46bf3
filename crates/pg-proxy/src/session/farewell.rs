//! A session's end: telling the client (the administrator killed it, or an error that
//! ends the session, sent as FATAL as PostgreSQL does before it closes), and the log
//! line.

use super::error::SessionError;
use super::relay::Relay;
use crate::metrics::count_error;
use crate::protocol::backend::{self, Severity};

/// How long a killed client is given to take its FATAL message.
const KILL_NOTICE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

impl Relay {
    /// Tells the client an administrator ended its session (KILL_CLIENT, KILL). A
    /// client that reads nothing is given little time: the session's server connection
    /// (and its transaction's locks) is let go only after this.
    pub(super) async fn send_killed(&mut self) {
        tracing::info!(route = %self.route.name, user = %self.info.user, client_id = self.listing.id, "session ended by the administrator");
        backend::error_response(
            &mut self.client.output,
            Severity::Fatal,
            "57P01",
            "terminating connection due to administrator command",
        );
        let _ = tokio::time::timeout(KILL_NOTICE_TIMEOUT, self.flush_client()).await;
    }

    /// Sends a FATAL ErrorResponse; the caller ends the session.
    pub(super) async fn send_fatal(&mut self, code: &str, message: &str) {
        backend::error_response(&mut self.client.output, Severity::Fatal, code, message);
        let _ = self.flush_client().await;
    }

    /// Logs how the session ended.
    pub(super) fn log_end(&self, result: &Result<(), SessionError>) {
        let (peer, user, route) = (self.listing.info.peer, &self.info.user, &self.route.name);
        match result {
            Ok(()) => {
                tracing::debug!(client = %peer, user = %user, route = %route, "session ended")
            }
            Err(e) => {
                if matches!(e, SessionError::ClientProtocol(_)) {
                    count_error("client_protocol");
                }
                tracing::info!(client = %peer, user = %user, route = %route, error = %e, "session ended")
            }
        }
    }
}
