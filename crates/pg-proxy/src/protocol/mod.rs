//! Pure PostgreSQL wire-protocol codecs: framing, startup packets, and the few message
//! types the proxy must read or write. Everything else is forwarded as opaque frames.

pub mod backend;
pub mod error_fields;
pub mod frame;
pub mod frontend;
pub mod startup;
pub mod tags;

pub use frame::{FrameError, FrameHeader};
