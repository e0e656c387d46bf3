//! Why a client session ended abnormally, and the size limits whose breach ends it.

/// Largest client message sluice buffers whole (CopyData is streamed, not buffered).
pub const CLIENT_MESSAGE_LIMIT: usize = 256 << 20;
/// Largest server message buffered whole (DataRow and CopyData are streamed).
pub const SERVER_MESSAGE_LIMIT: usize = 256 << 20;

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
