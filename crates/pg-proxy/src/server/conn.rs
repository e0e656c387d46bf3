//! One open server connection and the session state sluice tracks on it.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use pool_core::credentials::Credentials;

use super::statements::ServerStatements;
use crate::state::settings::Settings;
use crate::stream::Stream;

/// What a CancelRequest for this server connection needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelTarget {
    pub addr: SocketAddr,
    pub process_id: i32,
    pub secret_key: i32,
}

pub struct ServerConn {
    pub stream: Stream,
    /// Bytes read from the server and not yet relayed.
    pub read_buf: BytesMut,
    pub cancel: CancelTarget,
    /// ParameterStatus values as the server last reported them.
    pub params: Vec<(String, String)>,
    /// Shared prepared statements this connection holds.
    pub statements: ServerStatements,
    /// Session settings applied by sluice on behalf of clients (SET/RESET replay).
    pub settings: Settings,
    /// The credentials it was opened with: their generation, and when they stop working
    /// (a Vault lease). Holding them also tells the source that a lease is still in use.
    pub credentials: Arc<Credentials>,
}

impl ServerConn {
    /// Records a ParameterStatus the server sent.
    pub fn set_param(&mut self, name: &str, value: &str) {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => {
                if v != value {
                    *v = value.to_owned();
                }
            }
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
    }
}

impl ServerConn {
    /// Whether the idle connection still looks usable: nothing arrived on it since it
    /// was last used. A server that went away (stopped, failed over, terminated the
    /// backend) has closed it or sent a FATAL error; any such byte condemns it.
    pub fn is_quiet(&self) -> bool {
        self.read_buf.is_empty() && self.stream.is_quiet()
    }

    /// Says goodbye politely, so the server does not log an unexpected EOF.
    pub async fn terminate(mut self) {
        use tokio::io::AsyncWriteExt;
        let mut out = BytesMut::new();
        crate::protocol::frontend::write_terminate(&mut out);
        let _ = self.stream.write_all(&out).await;
        let _ = self.stream.shutdown().await;
    }
}
