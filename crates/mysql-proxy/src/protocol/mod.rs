//! The MySQL client/server protocol: pure codecs, no I/O. Each file is one kind of
//! packet or one piece of framing, unit-tested on its own.

pub mod capabilities;
pub mod collation;
pub mod command;
pub mod handshake;
pub mod lenenc;
pub mod ok_err;
pub mod packet;
pub mod response;
pub mod session_track;
pub mod statement;
