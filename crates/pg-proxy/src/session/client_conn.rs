//! The client's connection as the relay holds it: the stream, what was read from it and
//! not translated yet, what sluice owes it, and how much of a streamed message is left.

use bytes::BytesMut;

use crate::stream::Stream;

pub(super) struct ClientConn {
    pub stream: Stream,
    pub input: BytesMut,
    pub output: BytesMut,
    /// Bytes of a streamed client message still to forward.
    pub passthrough: usize,
}

impl ClientConn {
    pub fn new(stream: Stream, input: BytesMut) -> Self {
        Self {
            stream,
            input,
            // Taken from the worker's spare buffers when the first request comes.
            output: BytesMut::new(),
            passthrough: 0,
        }
    }
}
