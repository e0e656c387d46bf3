//! Reading whole messages during connection set-up (not on the relay's hot path).

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::error::ServerError;
use crate::protocol::frame::{complete_frame, HEADER_LEN};

/// Largest message accepted during set-up and internal queries.
const SETUP_MESSAGE_LIMIT: usize = 1 << 20;

/// Reads one message: `(tag, body)`.
pub async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> Result<(u8, Bytes), ServerError> {
    loop {
        if let Some(h) = complete_frame(buf, SETUP_MESSAGE_LIMIT)
            .map_err(|e| ServerError::Protocol(e.to_string()))?
        {
            let mut frame = buf.split_to(h.frame_len());
            let body = frame.split_off(HEADER_LEN).freeze();
            return Ok((h.tag, body));
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(ServerError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}
