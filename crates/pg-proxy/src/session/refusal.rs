//! Refusing a client during startup: an ErrorResponse with a SQLSTATE, a line in the
//! log (which may say more than the client is told), then the connection closes.

use std::borrow::Cow;
use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use crate::protocol::backend::{self, Severity};
use crate::stream::Stream;

/// Logs a refusal and tells the client, then closes the connection.
pub(super) async fn send_refusal(stream: &mut Stream, peer: SocketAddr, refusal: Refusal) {
    let Refusal { code, message, log } = refusal;
    tracing::info!(client = %peer, reason = %log, "connection refused");
    let mut out = BytesMut::new();
    backend::error_response(&mut out, Severity::Fatal, &code, &message);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// A refusal with its SQLSTATE, the message for the client, and a line for the log.
pub(super) struct Refusal {
    pub code: Cow<'static, str>,
    pub message: String,
    pub log: String,
}

pub(super) fn refuse(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Refusal {
    let message = message.into();
    Refusal {
        code: code.into(),
        log: message.clone(),
        message,
    }
}
